"""Mini-batches straight from uint8 tensors on the training device.

The whole subset lives on the device as uint8; augmentation (random crop with padding, horizontal flip) and
normalisation run on whole batches there, so no worker processes compete with the model for CPU cores.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .dataset import Split

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CROP_PADDING = 4


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
    mean = torch.tensor(CIFAR10_MEAN, device=images.device).view(1, 3, 1, 1) * 255
    std = torch.tensor(CIFAR10_STD, device=images.device).view(1, 3, 1, 1) * 255
    x = (images.float() - mean) / std
    return x.contiguous(memory_format=torch.channels_last)


def random_crop_flip(images: Tensor, generator: torch.Generator) -> Tensor:
    """Per-image random 32x32 crop from a zero-padded image, and a horizontal flip with probability 1/2."""
    n, _, h, w = images.shape
    padded = F.pad(images, (CROP_PADDING,) * 4)
    # Random numbers come from a CPU generator so a seed gives the same augmentation on any device.
    top = torch.randint(0, 2 * CROP_PADDING + 1, (n,), generator=generator).to(images.device)
    left = torch.randint(0, 2 * CROP_PADDING + 1, (n,), generator=generator).to(images.device)
    flip = (torch.rand(n, generator=generator) < 0.5).to(images.device)
    rows = (top[:, None] + torch.arange(h, device=images.device))[:, None, :, None]
    cols = torch.arange(w, device=images.device).expand(n, w)
    cols = torch.where(flip[:, None], left[:, None] + w - 1 - cols, left[:, None] + cols)[:, None, None, :]
    batch_index = torch.arange(n, device=images.device)[:, None, None, None]
    channel_index = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
    return padded[batch_index, channel_index, rows, cols]


def train_batches(data: DeviceSplit, batch_size: int, generator: torch.Generator, rank: int = 0,
                  world_size: int = 1, augment: bool = True) -> Iterator[Batch]:
    """One epoch of shuffled, normalised batches of `batch_size` (random crop and flip with `augment`); with several
    ranks, this rank's share.

    Every rank draws the same permutation and augmentation for the whole batch (the generators are seeded alike)
    and keeps images rank, rank + world_size, ...: together the ranks see exactly the batches of one process.
    """
    order = torch.randperm(len(data), generator=generator).to(data.device)
    mine = slice(rank, None, world_size)
    for start in range(0, len(data), batch_size):
        index = order[start:start + batch_size]
        images = data.images[index]
        if augment:
            images = random_crop_flip(images, generator)
        images = images[mine]  # a cheap gather: no need to split the draws
        yield Batch(normalize(images), data.labels[index[mine]], len(index))


def eval_batches(data: DeviceSplit, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
    """Batches in order, without augmentation."""
    for start in range(0, len(data), batch_size):
        yield normalize(data.images[start:start + batch_size]), data.labels[start:start + batch_size]
