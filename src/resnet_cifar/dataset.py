"""CIFAR-10 as uint8 arrays: read the official python batches, draw seeded subsets, store them compactly."""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import write_npz
from .config import DataParams
from .errors import UserError

IMAGE_SHAPE = (3, 32, 32)
NUM_CLASSES = 10
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """Images as uint8 (N, 3, 32, 32), labels as int64 (N,), and where each image came from in the source set."""

    images: np.ndarray
    labels: np.ndarray
    source_index: np.ndarray
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return pickle.load(f, encoding="bytes")
    except (OSError, pickle.UnpicklingError, EOFError, ValueError) as err:
        raise UserError(f"cannot read CIFAR-10 batch {path}: {err}") from err


def _key(batch: dict, name: str, path: Path):
    for k in (name.encode(), name):
        if k in batch:
            return batch[k]
    raise UserError(f"{path} has no '{name}' entry: not a CIFAR-10 batch")


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(path)
    data = np.asarray(_key(batch, "data", path))
    labels = np.asarray(_key(batch, "labels", path), dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != int(np.prod(IMAGE_SHAPE)):
        raise UserError(f"{path}: images must be uint8 rows of 3072 values, got {data.dtype} {data.shape}")
    if len(labels) != len(data):
        raise UserError(f"{path}: {len(data)} images but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise UserError(f"{path}: labels must lie in 0..{NUM_CLASSES - 1}, got {labels.min()}..{labels.max()}")
    return data.reshape(-1, *IMAGE_SHAPE), labels


def read_cifar10(batches_dir: Path) -> tuple[Split, Split, tuple[str, ...]]:
    """The full official train and test sets from an extracted `cifar-10-batches-py` folder."""
    batches_dir = Path(batches_dir)
    meta = _unpickle(batches_dir / "batches.meta")
    classes = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in _key(meta, "label_names", batches_dir))
    if len(classes) != NUM_CLASSES:
        raise UserError(f"{batches_dir}/batches.meta lists {len(classes)} classes, CIFAR-10 has {NUM_CLASSES}")
    parts = [_read_batch(batches_dir / f"data_batch_{i}") for i in range(1, 6)]
    train_x = np.concatenate([p[0] for p in parts])
    train_y = np.concatenate([p[1] for p in parts])
    test_x, test_y = _read_batch(batches_dir / "test_batch")
    train = Split(train_x, train_y, np.arange(len(train_y)), classes)
    test = Split(test_x, test_y, np.arange(len(test_y)), classes)
    return train, test, classes


def _take(split: Split, index: np.ndarray) -> Split:
    return Split(split.images[index], split.labels[index], split.source_index[index], split.classes)


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
    write_npz(path, images=split.images, labels=split.labels, source_index=split.source_index,
              classes=np.array(split.classes))


def load_split(path: Path) -> Split:
    try:
        with np.load(path, allow_pickle=False) as f:
            return Split(f["images"], f["labels"].astype(np.int64), f["source_index"],
                         tuple(str(c) for c in f["classes"]))
    except (OSError, KeyError, ValueError) as err:
        raise UserError(f"cannot read subset {path} ({err}); run `dvc repro subset`") from err
