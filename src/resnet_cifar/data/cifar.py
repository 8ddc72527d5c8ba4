"""The CIFAR archives' python batches as uint8 arrays, read without running code from the archive."""
from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np

from ..datasets import CIFAR10, CIFAR100, IMAGE_SHAPE
from ..errors import UserError
from .dataset import Split


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
            raise pickle.UnpicklingError(f"it refers to {module}.{name}, and CIFAR batches hold only lists, "
                                         f"dicts and numpy arrays; refusing to load code from a data file") from None


def _unpickle(path: Path, title: str) -> dict:
    try:
        with open(path, "rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
        raise UserError(f"cannot read {title} batch {path}: {err}") from err
    if not isinstance(batch, dict):
        raise UserError(f"{path} holds a {type(batch).__name__}, not a dict: not a {title} batch")
    return batch


def _key(batch: dict, name: str, path: Path, title: str):
    for k in (name.encode(), name):
        if k in batch:
            return batch[k]
    raise UserError(f"{path} has no '{name}' entry: not a {title} batch")


def _names(meta: dict, key: str, path: Path, title: str, count: int) -> tuple[str, ...]:
    names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in _key(meta, key, path, title))
    if len(names) != count:
        raise UserError(f"{path} lists {len(names)} {key.replace('_', ' ')}, {title} has {count}")
    return names


def _labels(batch: dict, key: str, path: Path, title: str, classes: int) -> np.ndarray:
    try:
        labels = np.asarray(_key(batch, key, path, title))
    except ValueError as err:  # ragged nested lists
        raise UserError(f"{path}: '{key}' must be an array or a flat list: {err}") from err
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise UserError(f"{path}: {key} must be a flat list of integers, got {labels.dtype} {labels.shape}")
    labels = labels.astype(np.int64)
    if len(labels) and (labels.min() < 0 or labels.max() >= classes):
        raise UserError(f"{path}: {key} must lie in 0..{classes - 1}, got {labels.min()}..{labels.max()}")
    return labels


def _read_batch(path: Path, title: str, label_keys: dict[str, int]) -> tuple[np.ndarray, list[np.ndarray]]:
    """A batch's images (N, 3, 32, 32) and, per key of `label_keys` (name: number of classes), its labels."""
    batch = _unpickle(path, title)
    try:
        data = np.asarray(_key(batch, "data", path, title))
    except ValueError as err:  # ragged nested lists
        raise UserError(f"{path}: 'data' must be an array or a flat list: {err}") from err
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != math.prod(IMAGE_SHAPE):
        raise UserError(f"{path}: images must be uint8 rows of {math.prod(IMAGE_SHAPE)} values, "
                        f"got {data.dtype} {data.shape}")
    labels = [_labels(batch, key, path, title, classes) for key, classes in label_keys.items()]
    for key, these in zip(label_keys, labels):
        if len(these) != len(data):
            raise UserError(f"{path}: {len(data)} images but {len(these)} {key}")
    return data.reshape(-1, *IMAGE_SHAPE), labels


def _folder(folder: Path, title: str) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"no extracted {title} folder at {folder}; run `dvc repro download` first")
    return folder


def read_cifar10(batches_dir: Path) -> tuple[Split, Split]:
    """The full official train and test sets from an extracted `cifar-10-batches-py` folder."""
    folder, title, count = _folder(batches_dir, CIFAR10.title), CIFAR10.title, CIFAR10.label_sets["fine"]
    classes = _names(_unpickle(folder / "batches.meta", title), "label_names", folder / "batches.meta", title, count)
    parts = [_read_batch(folder / f"data_batch_{i}", title, {"labels": count}) for i in range(1, 6)]
    train_x = np.concatenate([p[0] for p in parts])
    train_y = np.concatenate([p[1][0] for p in parts])
    test_x, (test_y,) = _read_batch(folder / "test_batch", title, {"labels": count})
    return (Split(train_x, train_y, np.arange(len(train_y)), classes),
            Split(test_x, test_y, np.arange(len(test_y)), classes))


def read_cifar100(folder: Path, labels: str) -> tuple[Split, Split]:
    """The full official train and test sets from an extracted `cifar-100-python` folder, labelled by the 100 fine
    classes (each Split's `groups` names their superclasses) or by the 20 superclasses (`labels` "coarse")."""
    folder, title = _folder(folder, CIFAR100.title), CIFAR100.title
    counts = {f"{kind}_labels": CIFAR100.label_sets[kind] for kind in ("fine", "coarse")}
    meta = _unpickle(folder / "meta", title)
    fine_names, coarse_names = (_names(meta, f"{kind}_label_names", folder / "meta", title, CIFAR100.label_sets[kind])
                                for kind in ("fine", "coarse"))
    (train_x, (train_fine, train_coarse)), (test_x, (test_fine, test_coarse)) = (
        _read_batch(folder / name, title, counts) for name in ("train", "test"))
    # Each fine class lies in one superclass: the pairs the batches hold must say so.
    fine, coarse = np.concatenate([train_fine, test_fine]), np.concatenate([train_coarse, test_coarse])
    pairs = np.unique(np.stack([fine, coarse], 1), axis=0)
    if len(np.unique(pairs[:, 0])) != len(pairs) or len(pairs) != len(fine_names):
        raise UserError(f"{folder}: the fine labels do not each lie in one superclass (coarse label), or some fine "
                        f"class has no image")
    superclass = dict(pairs.tolist())
    if labels == "coarse":
        return (Split(train_x, train_coarse, np.arange(len(train_x)), coarse_names),
                Split(test_x, test_coarse, np.arange(len(test_x)), coarse_names))
    groups = tuple(coarse_names[superclass[k]] for k in range(len(fine_names)))
    return (Split(train_x, train_fine, np.arange(len(train_x)), fine_names, groups),
            Split(test_x, test_fine, np.arange(len(test_x)), fine_names, groups))
