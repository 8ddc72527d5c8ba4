"""Tiny training set-ups for the trainer tests and the data-parallel worker: a few class-coloured images and the
params of ResNet-18 on them."""
import dataclasses

import numpy as np

from resnet_cifar.config import Params, TrainParams
from resnet_cifar.data.dataset import Split

from cifar_archive import class_images
from committed import committed_params


def tiny_split(n: int, seed: int) -> Split:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n)
    return Split(class_images(labels, rng).reshape(n, 3, 32, 32), labels, np.arange(n), tuple("abcdefghij"))


def tiny_params(tp: TrainParams, precision: str = "fp32", seed: int = 0, eval_batch_size: int = 20) -> Params:
    """The committed params with ResNet-18 at full resolution and train params `tp` at `precision`."""
    base = committed_params()
    return dataclasses.replace(
        base, seed=seed, model=dataclasses.replace(base.model, arch="resnet18", zero_init_residual=True, image_size=32),
        train=dataclasses.replace(tp, precision=precision),
        evaluate=dataclasses.replace(base.evaluate, batch_size=eval_batch_size))
