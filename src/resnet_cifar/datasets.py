"""What each dataset is: its classes, the images of each official split, and its official archive.

A leaf module, importing nothing of the package nor numpy: params validation (config.py, which every package
imports) checks the `data` parameters against these facts, and the data, model and corruption code that they shape
reads them here too (dvc.yaml lists this file among those stages' deps).

Every dataset reaches the network in one form: RGB images of IMAGE_SIDE x IMAGE_SIDE pixels, stored as uint8 rows
(channels first). CIFAR's images are that size already; a folder of your own images is converted on download
(data/images.py).
"""
from __future__ import annotations

from dataclasses import dataclass

IMAGE_SIDE = 32  # pixels; every image is square
CHANNELS = 3  # red, green and blue
IMAGE_SHAPE = (CHANNELS, IMAGE_SIDE, IMAGE_SIDE)  # channels first, as a row of a batch file is laid out


@dataclass(frozen=True)
class Dataset:
    title: str  # as messages name it
    label_sets: dict[str, int | None]  # data.labels' choices: how many classes each gives (None: known on download)
    train_images: int | None  # the official training split, which the training and validation subsets are drawn
    test_images: int | None  # from, and the official test split (None: known on download)
    url: str | None = None  # the official archive, and its MD5
    md5: str | None = None
    recipe: str | None = None  # the recipe that selects it, where params.yaml's defaults do not


# Krizhevsky, 2009: five training batches of 10,000 images, and a test batch.
CIFAR10 = Dataset("CIFAR-10", {"fine": 10}, train_images=50_000, test_images=10_000,
                  url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                  md5="c58f30108f718f92721af3b95e74349a")
# The same images' source, 100 classes of 600 images, each class in one of 20 superclasses ("coarse" labels).
CIFAR100 = Dataset("CIFAR-100", {"fine": 100, "coarse": 20}, train_images=50_000, test_images=10_000,
                   url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                   md5="eb9058c3a382ffc7106e4002c42a8d85", recipe="recipes/cifar100.yaml")
# An archive of train/<class>/<image> and test/<class>/<image> folders (torchvision's ImageFolder layout).
FOLDER = Dataset("image folder", {"fine": None}, train_images=None, test_images=None)

DATASETS = {"cifar10": CIFAR10, "cifar100": CIFAR100, "folder": FOLDER}  # data.dataset's choices
