"""A dataset's images as uint8 arrays: the seeded subsets drawn from its official splits, stored compactly."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import write_npz
from ..config import DataParams
from ..errors import UserError


@dataclass(frozen=True)
class Split:
    """Images as uint8 (N, 3, 32, 32), labels as int64 (N,), where each image came from in the source set, the class
    names, and where the classes have superclasses (CIFAR-100's fine classes), each class's superclass."""

    images: np.ndarray
    labels: np.ndarray
    source_index: np.ndarray
    classes: tuple[str, ...]
    groups: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.labels)


def _take(split: Split, index: np.ndarray) -> Split:
    return dataclasses.replace(split, images=split.images[index], labels=split.labels[index],
                               source_index=split.source_index[index])


def make_subsets(train: Split, test: Split, data: DataParams, seed: int) -> dict[str, Split]:
    """Seeded train/val/test subsets; train and val are disjoint draws from the official training set."""
    need = data.train_size + data.val_size
    if need > len(train):
        raise UserError(f"data.train_size + data.val_size = {need}, but the archive has only {len(train)} "
                        f"training images")
    if data.test_size > len(test):
        raise UserError(f"data.test_size = {data.test_size}, but the archive has only {len(test)} test images")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(train))
    test_order = rng.permutation(len(test))
    return {
        "train": _take(train, np.sort(order[: data.train_size])),
        "val": _take(train, np.sort(order[data.train_size:need])),
        "test": _take(test, np.sort(test_order[: data.test_size])),
    }


def save_split(split: Split, path: Path) -> None:
    groups = {} if split.groups is None else {"groups": np.array(split.groups)}
    write_npz(path, images=split.images, labels=split.labels, source_index=split.source_index,
              classes=np.array(split.classes), **groups)


def load_split(path: Path, made_by: str = "subset") -> Split:
    """A split that `save_split` wrote, as stage `made_by` makes it."""
    try:
        with np.load(path, allow_pickle=False) as f:
            groups = tuple(str(g) for g in f["groups"]) if "groups" in f else None
            return Split(f["images"], f["labels"].astype(np.int64), f["source_index"],
                         tuple(str(c) for c in f["classes"]), groups)
    except (OSError, KeyError, ValueError) as err:
        raise UserError(f"cannot read {path} ({err}); run `dvc repro {made_by}`") from err
