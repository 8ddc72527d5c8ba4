"""A folder dataset made from real photographs: some CIFAR-100 classes, written as the files a user would have.

Takes the chosen classes' images from a CIFAR-100 archive in the official layout and writes each one as a JPEG or a
PNG (alternately), enlarged to a random size between --min-side and --max-side pixels with a random aspect ratio,
a third of them in grayscale, into train/<class>/ and test/<class>/ (their official split), zipped. The pipeline
then reads them back as it reads any user's images (`data.dataset: folder`, docs/datasets.md): every image is
resized back to 32x32, so the run sees the photographs through one more resampling and, for the JPEGs, a lossy
compression.

    python benchmarks/image_folder.py --archive cifar-100-python.tar.gz --out my-images.zip
    dvc exp run -S data.dataset=folder -S data.url=$PWD/my-images.zip -S data.md5=$(md5sum my-images.zip | cut -c1-32)
"""
from __future__ import annotations

import argparse
import hashlib
import io
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from resnet_cifar.archive.download import official_unpacker
from resnet_cifar.data.cifar import read_cifar100

CLASSES = ("apple", "bicycle", "cloud", "dolphin", "tulip")


def encoded(image: np.ndarray, index: int, rng: np.random.Generator, sides: tuple[int, int]) -> tuple[str, bytes]:
    """One CIFAR image (3, 32, 32) as a file's name suffix and bytes: enlarged, maybe grayscale, JPEG or PNG."""
    picture = Image.fromarray(image.transpose(1, 2, 0))
    picture = picture.resize((int(rng.integers(*sides)), int(rng.integers(*sides))), Image.Resampling.BICUBIC)
    if index % 3 == 2:
        picture = picture.convert("L")
    suffix, kind = (".jpg", "JPEG") if index % 2 else (".png", "PNG")
    buffer = io.BytesIO()
    picture.save(buffer, kind, **({"quality": 90} if kind == "JPEG" else {}))
    return suffix, buffer.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--archive", type=Path, required=True, help="a CIFAR-100 archive in the official layout")
    ap.add_argument("--out", type=Path, required=True, help="the .zip to write")
    ap.add_argument("--classes", default=",".join(CLASSES), help="CIFAR-100 fine classes, comma-separated")
    ap.add_argument("--min-side", type=int, default=40)
    ap.add_argument("--max-side", type=int, default=160)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    chosen = args.classes.split(",")
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as folder:
        splits = read_cifar100(official_unpacker("cifar100")(args.archive, Path(folder)), "fine")
    counts = {}
    with zipfile.ZipFile(args.out, "w") as out:
        for name, split in zip(("train", "test"), splits):
            for cls in chosen:
                index = np.flatnonzero(split.labels == split.classes.index(cls))
                counts[name] = counts.get(name, 0) + len(index)
                for i, k in enumerate(index):
                    suffix, payload = encoded(split.images[k], i, rng, (args.min_side, args.max_side + 1))
                    out.writestr(f"my-images/{name}/{cls}/{i:04d}{suffix}", payload)
    md5 = hashlib.md5(args.out.read_bytes()).hexdigest()
    print(f"{args.out} {md5}: {len(chosen)} classes, {counts['train']} training and {counts['test']} test images")


if __name__ == "__main__":
    main()
