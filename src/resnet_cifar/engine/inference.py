"""Inference on a device-resident split: logits and features in eval mode, flip test-time augmentation, and the
loss and accuracy sums that validation and testing share."""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..data.batches import DeviceSplit, eval_batches
from ..model.resnet import ResNet
from .device import autocast


@torch.no_grad()
def map_batches(fn: Callable[[Tensor], Tensor], data: DeviceSplit, batch_size: int, precision: str = "fp32") -> Tensor:
    """Float32 `fn(images)` for every normalised image of `data`, in order, concatenated over batches."""
    outputs = []
    for images, _ in eval_batches(data, batch_size):
        with autocast(data.device, precision):
            outputs.append(fn(images).float())
    return torch.cat(outputs)


def predict_logits(model: nn.Module, data: DeviceSplit, batch_size: int, precision: str = "fp32") -> Tensor:
    """Float32 logits (N, classes) for every image of `data`, in order, with the model in eval mode."""
    model.eval()
    return map_batches(model, data, batch_size, precision)


def predict_features_and_logits(model: ResNet, data: DeviceSplit, batch_size: int,
                                precision: str = "fp32") -> tuple[Tensor, Tensor]:
    """Penultimate features (N, num_features) and logits (N, classes) of every image, from one forward pass."""
    model.eval()
    features = map_batches(model.features, data, batch_size, precision)
    with torch.no_grad():
        return features, model.fc(features)


def predict_mirrored_logits(model: nn.Module, data: DeviceSplit, batch_size: int, precision: str = "fp32") -> Tensor:
    """Logits of every image of `data` flipped left-right: the second view of flip test-time augmentation."""
    model.eval()
    return map_batches(lambda images: model(images.flip(3)), data, batch_size, precision)


def flip_averaged_log_probs(logits: Tensor, mirrored_logits: Tensor) -> Tensor:
    """Log of the mean of the two views' softmax probabilities, computed stably in log space.

    It is a valid `logits` argument for `loss_and_accuracy`: its softmax is the averaged distribution itself.
    """
    views = torch.stack([torch.log_softmax(logits, 1), torch.log_softmax(mirrored_logits, 1)])
    return torch.logsumexp(views, 0) - math.log(2)


def loss_and_correct_sums(logits: Tensor, labels: Tensor) -> Tensor:
    """float64 [summed cross-entropy, number classified correctly]: sums, so shards of a set can be added up."""
    return torch.stack([nn.functional.cross_entropy(logits, labels, reduction="sum").double(),
                        (logits.argmax(1) == labels).sum().double()])


def loss_and_accuracy(logits: Tensor, labels: Tensor) -> tuple[float, float]:
    """Mean cross-entropy and the fraction classified correctly."""
    loss_sum, correct = loss_and_correct_sums(logits, labels).tolist()
    return loss_sum / len(labels), correct / len(labels)
