"""Mini-batches straight from uint8 tensors on the training device.

The whole subset lives on the device as uint8; augmentation (translation, horizontal flip) and
normalisation run on whole batches there, so no worker processes compete with the model for CPU cores.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from .dataset import Split

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


class DeviceSplit:
    """A subset held on `device`: uint8 images (N, 3, 32, 32) and int64 labels."""

    def __init__(self, split: Split, device: torch.device) -> None:
        self.images = torch.from_numpy(split.images).to(device)
        self.labels = torch.from_numpy(split.labels).to(device)
        self.device = device

    def __len__(self) -> int:
        return len(self.labels)

    def shard(self, rank: int, world_size: int) -> DeviceSplit:
        """Part `rank` of `world_size` contiguous parts (their sizes differ by at most one image)."""
        part = copy.copy(self)
        part.images = self.images.tensor_split(world_size)[rank]
        part.labels = self.labels.tensor_split(world_size)[rank]
        return part


class Batch(NamedTuple):
    images: Tensor  # normalised float32, channels_last
    labels: Tensor
    global_size: int  # images in the whole batch, over all ranks


def normalize(images: Tensor) -> Tensor:
    """uint8 (N, 3, H, W) to normalised float32 in channels_last memory format."""
    mean = torch.tensor(CIFAR10_MEAN, device=images.device).view(1, -1, 1, 1) * 255
    std = torch.tensor(CIFAR10_STD, device=images.device).view(1, -1, 1, 1) * 255
    x = (images.float() - mean) / std
    return x.contiguous(memory_format=torch.channels_last)


@dataclass
class Augmentation:
    """What `train_batches` does to every training image: a random translation of up to `translate` pixels each way
    (the pixels shifted in are zeros or a reflection of the image, per `padding`), then a horizontal flip.

    flip `random` mirrors each image with probability 1/2 at every draw. `alternate` (airbench, arXiv 2404.00498)
    mirrors a random half of the images in odd epochs and exactly the other half in even ones, so over any two
    consecutive epochs every image is seen once each way: the same expected augmentation with less variance, as
    no image can come out the same way twice in a row. `flip_base` marks that half; it is part of the training
    state.
    """

    flip: str = "none"
    translate: int = 0
    padding: str = "zeros"
    flip_base: Tensor | None = None

    @classmethod
    def drawn(cls, flip: str, translate: int, padding: str, images: int, generator: torch.Generator) -> Augmentation:
        """The augmentation for a training set of `images` images; `alternate` draws its half from `generator`."""
        base = torch.rand(images, generator=generator) < 0.5 if flip == "alternate" else None
        return cls(flip, translate, padding, base)

    def __call__(self, images: Tensor, index: Tensor, epoch: int, generator: torch.Generator) -> Tensor:
        """The augmented uint8 batch of the training images `index` (which `images` holds) in 1-based `epoch`."""
        n, _, h, w = images.shape
        device = images.device
        rows = torch.arange(h, device=device).expand(n, h)
        cols = torch.arange(w, device=device).expand(n, w)
        if self.translate:
            # Random numbers come from a CPU generator so a seed gives the same augmentation on any device.
            span = 2 * self.translate + 1
            rows = rows + (torch.randint(0, span, (n,), generator=generator) - self.translate).to(device)[:, None]
            cols = cols + (torch.randint(0, span, (n,), generator=generator) - self.translate).to(device)[:, None]
        if self.flip == "random":
            flipped = (torch.rand(n, generator=generator) < 0.5).to(device)
        elif self.flip == "alternate":
            flipped = self.flip_base.to(device)[index] ^ (epoch % 2 == 0)
        if self.flip != "none":
            cols = torch.where(flipped[:, None], cols.flip(1), cols)
        inside = None
        if self.padding == "reflect":
            rows, cols = reflect(rows, h), reflect(cols, w)
        elif self.translate:
            inside = ((rows >= 0) & (rows < h))[:, None, :, None] & ((cols >= 0) & (cols < w))[:, None, None, :]
            rows, cols = rows.clamp(0, h - 1), cols.clamp(0, w - 1)
        batch_index = torch.arange(n, device=device)[:, None, None, None]
        channel_index = torch.arange(images.shape[1], device=device)[None, :, None, None]
        out = images[batch_index, channel_index, rows[:, None, :, None], cols[:, None, None, :]]
        return out if inside is None else out * inside


NO_AUGMENTATION = Augmentation()


def reflect(index: Tensor, size: int) -> Tensor:
    """Indices past either edge of [0, size) mirrored back inside, the edge pixel not repeated (numpy's 'reflect');
    valid for offsets below `size`."""
    index = index.abs()
    return torch.where(index >= size, 2 * (size - 1) - index, index)


def train_batches(data: DeviceSplit, batch_size: int, generator: torch.Generator, rank: int = 0,
                  world_size: int = 1, augmentation: Augmentation = NO_AUGMENTATION, epoch: int = 1) -> Iterator[Batch]:
    """One epoch (1-based `epoch`) of shuffled, normalised batches of `batch_size`, each image augmented; with
    several ranks, this rank's share.

    Every rank draws the same permutation and augmentation for the whole batch (the generators are seeded alike)
    and keeps images rank, rank + world_size, ...: together the ranks see exactly the batches of one process.
    """
    order = torch.randperm(len(data), generator=generator).to(data.device)
    mine = slice(rank, None, world_size)
    for start in range(0, len(data), batch_size):
        index = order[start:start + batch_size]
        images = augmentation(data.images[index], index, epoch, generator)
        images = images[mine]  # a cheap gather: no need to split the draws
        yield Batch(normalize(images), data.labels[index[mine]], len(index))
