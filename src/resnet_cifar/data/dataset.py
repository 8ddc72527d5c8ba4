"""CIFAR-10 as uint8 arrays: read the official python batches, draw seeded subsets, store them compactly."""
from __future__ import annotations

import math
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import write_npz
from ..config import DataParams
from ..datasets import CIFAR10
from ..errors import UserError


@dataclass(frozen=True)
class Split:
    """Images as uint8 (N, 3, 32, 32), labels as int64 (N,), and where each image came from in the source set."""

    images: np.ndarray
    labels: np.ndarray
    source_index: np.ndarray
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)


def _latin1_bytes(text: str, encoding: str) -> bytes:
    """How Python 3 spells bytes in a protocol-2 pickle (`_codecs.encode(text, "latin1")`), and nothing more."""
    if encoding != "latin1":
        raise pickle.UnpicklingError(f"unexpected text encoding {encoding!r}")
    return text.encode("latin1")


# What a CIFAR-10 batch pickle may refer to: numpy's array and scalar rebuilders (wherever this numpy version keeps
# them: numpy.core became numpy._core), ndarray, dtype, and bytes as Python 3 writes them in protocol 2.
# Nothing else is ever called while loading.
_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")
_PICKLE_GLOBALS = {
    ("_codecs", "encode"): _latin1_bytes,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    **{(m, "_reconstruct"): np.empty(0).__reduce__()[0] for m in _NUMPY_MODULES},
    **{(m, "scalar"): np.float64(0).__reduce__()[0] for m in _NUMPY_MODULES},
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only: a pickle can name any callable, and loading it would
    call it, running code from the archive."""

    def find_class(self, module: str, name: str) -> object:
        try:
            return _PICKLE_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}, and CIFAR-10 batches hold only lists, "
                                         f"dicts and numpy arrays; refusing to load code from a data file") from None


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
        raise UserError(f"cannot read CIFAR-10 batch {path}: {err}") from err
    if not isinstance(batch, dict):
        raise UserError(f"{path} holds a {type(batch).__name__}, not a dict: not a CIFAR-10 batch")
    return batch


def _key(batch: dict, name: str, path: Path):
    for k in (name.encode(), name):
        if k in batch:
            return batch[k]
    raise UserError(f"{path} has no '{name}' entry: not a CIFAR-10 batch")


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(path)
    try:
        data, labels = np.asarray(_key(batch, "data", path)), np.asarray(_key(batch, "labels", path))
    except ValueError as err:  # ragged nested lists
        raise UserError(f"{path}: 'data' and 'labels' must be arrays or flat lists: {err}") from err
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != math.prod(CIFAR10.image_shape):
        raise UserError(f"{path}: images must be uint8 rows of {math.prod(CIFAR10.image_shape)} values, "
                        f"got {data.dtype} {data.shape}")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise UserError(f"{path}: labels must be a flat list of integers, got {labels.dtype} {labels.shape}")
    labels = labels.astype(np.int64)
    if len(labels) != len(data):
        raise UserError(f"{path}: {len(data)} images but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= CIFAR10.classes):
        raise UserError(f"{path}: labels must lie in 0..{CIFAR10.classes - 1}, got {labels.min()}..{labels.max()}")
    return data.reshape(-1, *CIFAR10.image_shape), labels


def read_cifar10(batches_dir: Path) -> tuple[Split, Split, tuple[str, ...]]:
    """The full official train and test sets from an extracted `cifar-10-batches-py` folder."""
    batches_dir = Path(batches_dir)
    if not batches_dir.is_dir():
        raise UserError(f"no extracted CIFAR-10 folder at {batches_dir}; run `dvc repro download` first")
    meta = _unpickle(batches_dir / "batches.meta")
    classes = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in _key(meta, "label_names", batches_dir))
    if len(classes) != CIFAR10.classes:
        raise UserError(f"{batches_dir}/batches.meta lists {len(classes)} classes, "
                        f"{CIFAR10.title} has {CIFAR10.classes}")
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
