"""Tiny training set-ups for the trainer tests and the data-parallel worker: a few class-coloured images and the
params of ResNet-18 on them."""
import dataclasses

import numpy as np

from resnet_cifar.config import EvaluateParams, ModelParams, Params, TrainParams
from resnet_cifar.data.dataset import Split

from cifar_archive import class_images


def tiny_split(n: int, seed: int) -> Split:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n)
    return Split(class_images(labels, rng).reshape(n, 3, 32, 32), labels, np.arange(n), tuple("abcdefghij"))


def tiny_params(tp: TrainParams, precision: str = "fp32", seed: int = 0, eval_batch_size: int = 20) -> Params:
    """ResNet-18 at full resolution, with train params `tp` at `precision`."""
    return Params(seed=seed, model=ModelParams(arch="resnet18", zero_init_residual=True, image_size=32),
                  train=dataclasses.replace(tp, precision=precision),
                  evaluate=EvaluateParams(batch_size=eval_batch_size))
