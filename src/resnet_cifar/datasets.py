"""What each dataset is: the shape of its images, its classes, and the images of each official split.

A leaf module, importing nothing of the package nor numpy: params validation (config.py, which every package
imports) checks `model.image_size` and the `data` sizes against these facts, and the data, model and corruption code
that they shape reads them here too (dvc.yaml lists this file among those stages' deps). Another dataset is another
`Dataset` beside CIFAR10.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dataset:
    title: str  # as messages name it
    image_side: int  # pixels; every image is square
    channels: int
    classes: int
    train_images: int  # the official training split, which the training and validation subsets are drawn from
    test_images: int  # the official test split

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """Channels first, as a row of a batch file is laid out."""
        return (self.channels, self.image_side, self.image_side)


# Krizhevsky, 2009: red, green and blue images; five training batches of 10,000 images, and a test batch.
CIFAR10 = Dataset("CIFAR-10", image_side=32, channels=3, classes=10, train_images=50_000, test_images=10_000)
