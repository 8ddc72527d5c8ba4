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


# CIFAR-100 in miniature: 100 fine classes named after their index, each in superclass fine % 20.
FINE_CLASSES = [f"fine{k:02d}" for k in range(100)]
COARSE_CLASSES = [f"coarse{k:02d}" for k in range(20)]


def superclass(fine: np.ndarray) -> np.ndarray:
    return fine % 20


def write_cifar100_archive(path: Path, train: int = 300, test: int = 200, seed: int = 0,
                           coarse_of=superclass) -> str:
    """Write a CIFAR-100-format tar.gz (`cifar-100-python/{train,test,meta}`); every fine class has an image in each
    split. Return its MD5."""
    rng = np.random.default_rng(seed)
    with tarfile.open(path, "w:gz") as tar:
        meta = {b"fine_label_names": [c.encode() for c in FINE_CLASSES],
                b"coarse_label_names": [c.encode() for c in COARSE_CLASSES]}
        _member(tar, "cifar-100-python/meta", pickle.dumps(meta, protocol=2))
        for name, n in (("train", train), ("test", test)):
            fine = np.concatenate([np.arange(100), rng.integers(0, 100, size=n - 100)])
            batch = {b"data": class_images(fine % 10, rng), b"fine_labels": fine.tolist(),
                     b"coarse_labels": coarse_of(fine).tolist(), b"batch_label": name.encode(),
                     b"filenames": [f"{name}_{i}.png".encode() for i in range(n)]}
            _member(tar, f"cifar-100-python/{name}", pickle.dumps(batch, protocol=2))
    return hashlib.md5(path.read_bytes()).hexdigest()


FOLDER_CLASSES = ["apple", "bicycle", "cloud", "dolphin", "tulip"]


def class_picture(label: int, size: tuple[int, int], mode: str, rng: np.random.Generator):
    """A PIL image whose colour says its class (a model can learn it at any size and in any mode)."""
    from PIL import Image

    colour = np.array([(label * 53) % 256, (label * 97 + 80) % 256, (255 - label * 41) % 256], dtype=np.float64)
    pixels = np.clip(colour + rng.normal(0, 20, size=(size[1], size[0], 3)), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB").convert(mode)


def image_folder(root: Path, per_class: tuple[int, int] = (12, 4), classes: list[str] = FOLDER_CLASSES,
                 seed: int = 0) -> Path:
    """train/<class>/ and test/<class>/ with PNGs and JPEGs of mixed sizes and modes (RGB, L, RGBA, P), under `root`."""
    rng = np.random.default_rng(seed)
    kinds = [("png", "RGB"), ("jpg", "RGB"), ("png", "L"), ("png", "RGBA"), ("jpg", "L"), ("png", "P")]
    for split, count in zip(("train", "test"), per_class):
        for label, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                ext, mode = kinds[(i + label) % len(kinds)]
                size = (int(rng.integers(20, 90)), int(rng.integers(20, 90)))
                class_picture(label, size, mode, rng).save(folder / f"{i}.{ext}")
    return root


def pack(folder: Path, archive: Path, top: str | None = None) -> str:
    """`folder`'s contents as a .tar.gz, or a .zip by the suffix, optionally under one top-level folder; its MD5.
    Every entry goes in as it is: empty folders too, and in a tar a link as a link (a zip stores its target)."""
    import zipfile

    entries = [(p, (f"{top}/" if top else "") + p.relative_to(folder).as_posix()) for p in sorted(folder.rglob("*"))]
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive, "w") as z:
            for path, name in entries:
                z.write(path, name)
    else:
        with tarfile.open(archive, "w:gz") as tar:
            for path, name in entries:
                tar.add(path, name, recursive=False)
    return hashlib.md5(archive.read_bytes()).hexdigest()
