"""The pipeline's stages, run by dvc.yaml as `python -m stages.<name>` from the repository root.

Importing this package puts the checkout's own `src/` first on the module path, so every stage runs the code of
the workspace it runs in: `dvc exp run --temp` and `dvc queue` workers run in copies of the repository, where an
installed `resnet_cifar` would be the code of another checkout.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
