"""Tiny training set-ups for the trainer tests and the data-parallel worker: a few class-coloured images, the
params of ResNet-18 on them and the train params the trainer tests run."""
import dataclasses

import numpy as np

from cifar_archive import class_images
from committed import committed_params, train_params
from resnet_cifar.config import Params, TrainParams
from resnet_cifar.data.dataset import Split

# The trainer tests' run: two short epochs under a cosine schedule with warmup, random crops and flips, precise BN.
TP = train_params(epochs=2, batch_size=16, lr=0.05, weight_decay=1e-4, scheduler="cosine", warmup_epochs=0.5,
                  label_smoothing=0.0, flip="random", translate=4, precise_bn_batches=2)


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
