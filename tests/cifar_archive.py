"""Tiny archives in the layout of the official cifar-10-python.tar.gz, built by the tests themselves."""
from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def class_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Noisy images whose mean colour depends on the class, so a model can learn something from them."""
    base = (np.arange(10)[:, None] * np.array([25, 67, 111]) % 256).astype(np.float64)
    images = base[labels][:, :, None] + rng.normal(0, 30, size=(len(labels), 3, 1024))
    return np.clip(images, 0, 255).astype(np.uint8).reshape(len(labels), 3072)


def _member(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


def write_archive(path: Path, per_batch: int = 40, test: int = 60, seed: int = 0,
                  extra: dict[str, bytes] | None = None, skip: tuple[str, ...] = ()) -> str:
    """Write a CIFAR-10-format tar.gz with 5 x `per_batch` training and `test` test images; return its MD5."""
    rng = np.random.default_rng(seed)
    with tarfile.open(path, "w:gz") as tar:
        meta = {b"label_names": [c.encode() for c in CLASSES], b"num_cases_per_batch": per_batch}
        members = {"batches.meta": pickle.dumps(meta, protocol=2)}
        for name, n in [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", test)]:
            labels = rng.integers(0, 10, size=n)
            batch = {b"data": class_images(labels, rng), b"labels": labels.tolist(), b"batch_label": name.encode()}
            members[name] = pickle.dumps(batch, protocol=2)
        for name, payload in members.items():
            if name not in skip:
                _member(tar, f"cifar-10-batches-py/{name}", payload)
        for name, payload in (extra or {}).items():
            _member(tar, name, payload)
    return hashlib.md5(path.read_bytes()).hexdigest()
