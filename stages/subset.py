"""Stage `subset`: seeded train / validation / test subsets as compact uint8 arrays in data/subsets."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout's package, also in exp workspaces

from resnet_cifar.config import load_params  # noqa: E402
from resnet_cifar.dataset import make_subsets, read_cifar10, save_split  # noqa: E402
from resnet_cifar.errors import report_user_errors  # noqa: E402

RAW_DIR = Path("data/raw/cifar-10-batches-py")
OUT_DIR = Path("data/subsets")


@report_user_errors
def main() -> None:
    params = load_params()
    train, test, _ = read_cifar10(RAW_DIR)
    for name, split in make_subsets(train, test, params.data, params.seed).items():
        save_split(split, OUT_DIR / f"{name}.npz")
        counts = " ".join(str(int((split.labels == c).sum())) for c in range(len(split.classes)))
        print(f"{name}: {len(split)} images, per class: {counts}")


if __name__ == "__main__":
    main()
