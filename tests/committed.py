"""The committed params.yaml, the one source of the parameters that tests (and the data-parallel worker, a
subprocess without pytest) build: never the workspace's file, which `dvc exp run -S ...` rewrites with an
experiment's values."""
import dataclasses
import functools
import shutil
import subprocess
from pathlib import Path

import yaml

from resnet_cifar.config import DataParams, Params, TrainParams, parse_params

REPO = Path(__file__).resolve().parents[1]


@functools.cache
def committed_params_text() -> str:
    """params.yaml as HEAD holds it; the file itself where the repository is not a git checkout (an unpacked source
    archive), since there the file is all there is."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        return (REPO / "params.yaml").read_text()
    shown = subprocess.run(["git", "show", "HEAD:./params.yaml"], cwd=REPO, capture_output=True, text=True)
    if shown.returncode != 0:
        raise RuntimeError(f"git show HEAD:./params.yaml failed in {REPO}: {shown.stderr.strip()}")
    return shown.stdout


@functools.cache
def committed_params() -> Params:
    return parse_params(yaml.safe_load(committed_params_text()))


def committed_params_with(text: str) -> str:
    """The committed params.yaml with the YAML `text` laid over it key by key (a section of `text` that is not a
    mapping replaces the committed one): a complete params file but for what a test changes."""
    tree = yaml.safe_load(committed_params_text())
    for key, value in yaml.safe_load(text).items():
        tree[key] = {**tree[key], **value} if isinstance(value, dict) and isinstance(tree.get(key), dict) else value
    return yaml.safe_dump(tree, sort_keys=False)


def train_params(**changes) -> TrainParams:
    """The committed train section with `changes`."""
    return dataclasses.replace(committed_params().train, **changes)


def data_params(**changes) -> DataParams:
    """The committed data section with `changes`."""
    return dataclasses.replace(committed_params().data, **changes)
