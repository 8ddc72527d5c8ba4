"""Image files as the network's input, and a folder of your own images as a dataset's two splits.

Every image becomes what the CIFAR images are: RGB, IMAGE_SIDE x IMAGE_SIDE, uint8. The layout of a folder dataset
is torchvision's ImageFolder's, `train/<class>/<image>` and `test/<class>/<image>`, with the class names the
folder names, sorted.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm import tqdm

from ..datasets import IMAGE_SHAPE, IMAGE_SIDE
from ..errors import UserError
from .dataset import Split, save_split

SPLITS = ("train", "test")
# What an archive made on a Mac or by a file manager holds beside the images: never classes or images.
IGNORED = ("__MACOSX", "Thumbs.db", "desktop.ini")


def load_image(path: Path, name: str | None = None) -> np.ndarray:
    """uint8 (3, 32, 32) from an image file Pillow reads: turned upright as its EXIF orientation says, converted to
    RGB (grayscale repeated, alpha dropped), and resized to 32x32 whatever its shape, with Pillow's bilinear filter,
    which averages over the whole source when it shrinks (antialiased). `name`: the file as errors call it."""
    name = name or str(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # a huge image is an error, not a warning
            with Image.open(path) as image:
                rgb = ImageOps.exif_transpose(image).convert("RGB")
                rgb = rgb.resize((IMAGE_SIDE, IMAGE_SIDE), Image.Resampling.BILINEAR)
    except FileNotFoundError:
        raise UserError(f"image {name} not found") from None
    except UnidentifiedImageError:
        raise UserError(f"{name} is not an image (Pillow cannot read this kind of file)") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise UserError(f"cannot read image {name}: {err}") from err
    return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)


def _ignored(name: str) -> bool:
    """A hidden file or folder (.DS_Store), or what archivers add."""
    return name.startswith(".") or name in IGNORED


def _visible(folder: Path) -> list[Path]:
    """The entries of `folder`, sorted, without the ignored ones."""
    return sorted(p for p in folder.iterdir() if not _ignored(p.name))


def find_image_root(extracted: Path) -> Path:
    """The folder holding train/ and test/: the archive's top, or its one top-level folder."""
    top = _visible(extracted)
    folders = [p for p in top if p.is_dir()]
    root = folders[0] if len(top) == 1 and folders and not (extracted / "train").is_dir() else extracted
    if not (root / "train").is_dir():
        found = ", ".join(p.name + ("/" if p.is_dir() else "") for p in _visible(root)) or "nothing"
        raise UserError(f"the archive has no train/ folder at its top or in its one top-level folder (found: "
                        f"{found}); a folder dataset holds train/<class>/<image> and test/<class>/<image>")
    if not (root / "test").is_dir():
        raise UserError(f"the archive has {_shown(root / 'train', extracted)} but no test/ beside it")
    return root


def _shown(path: Path, extracted: Path) -> str:
    """A path as the archive names it."""
    return path.relative_to(extracted).as_posix() + ("/" if path.is_dir() else "")


def _class_files(split: Path, extracted: Path) -> dict[str, list[Path]]:
    """Each class folder of a split and its files (in subfolders too), sorted."""
    classes = {}
    for entry in _visible(split):
        if not entry.is_dir():
            raise UserError(f"{_shown(entry, extracted)} is not in a class folder: a split holds only "
                            f"<class>/ folders")
        files = sorted(p for p in entry.rglob("*")
                       if p.is_file() and not any(map(_ignored, p.relative_to(entry).parts)))
        if not files:
            raise UserError(f"class folder {_shown(entry, extracted)} holds no images")
        classes[entry.name] = files
    return classes


def read_image_folder(extracted: Path) -> tuple[Split, Split]:
    """The train and test splits of an extracted folder dataset, every image decoded (one line naming the first
    file or folder that is wrong)."""
    root = find_image_root(extracted)
    files = {split: _class_files(root / split, extracted) for split in SPLITS}
    classes = tuple(sorted(files["train"]))
    if len(classes) < 2:
        raise UserError(f"{_shown(root / 'train', extracted)} has {len(classes)} class folder; a classifier needs "
                        f"at least 2")
    unknown = sorted(set(files["test"]) - set(classes))
    if unknown:
        raise UserError(f"{_shown(root / 'test' / unknown[0], extracted)} is a class that "
                        f"{_shown(root / 'train', extracted)} lacks: the model can only learn the training classes")
    label = {name: k for k, name in enumerate(classes)}
    listed = {split: [(path, label[name]) for name, paths in sorted(by_class.items()) for path in paths]
              for split, by_class in files.items()}
    splits = []
    with tqdm(total=sum(map(len, listed.values())), desc="images", unit="img", disable=None) as bar:
        for split in SPLITS:
            images = np.empty((len(listed[split]), *IMAGE_SHAPE), dtype=np.uint8)
            for i, (path, _) in enumerate(listed[split]):
                images[i] = load_image(path, _shown(path, extracted))
                bar.update()
            labels = np.array([label for _, label in listed[split]], dtype=np.int64)
            splits.append(Split(images, labels, np.arange(len(labels)), classes))
    return splits[0], splits[1]


def pack_image_folder(extracted: Path, files: dict[str, Path]) -> None:
    """Decode an extracted folder dataset into a file per split (`files`: split name to path, `save_split`)."""
    for name, split in zip(SPLITS, read_image_folder(extracted)):
        files[name].parent.mkdir(parents=True, exist_ok=True)
        save_split(split, files[name])
