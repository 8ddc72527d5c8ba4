"""Inference on a device-resident split: logits and features in eval mode, test-time augmentation (TTA), and the
loss and accuracy sums that validation and testing share."""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..data.batches import DeviceSplit, normalize, reflect
from ..model.resnet import ResNet
from .device import autocast


class View(NamedTuple):
    """One test-time view of an image: mirrored left-right or not, then its content moved `shift` = (down, right)
    pixels, the vacated rows and columns filled by reflection about the edge (torch's 'reflect' padding, which does
    not repeat the edge pixel). It applies to the uint8 32x32 image, before normalisation and before the model's own
    downsampling (model.image_size < 32), the order in which training's random crops apply."""
    mirror: bool
    shift: tuple[int, int]


PLAIN = View(mirror=False, shift=(0, 0))
UP_LEFT, DOWN_RIGHT = (-1, -1), (1, 1)
# The views of each `evaluate.tta` mode (config.TTA_MODES), after airbench (Jordan 2024, arXiv 2404.00498): the
# image and its mirror, and with flip_translate each of those also shifted one pixel up-left and one down-right.
TTA_VIEWS: dict[str, tuple[View, ...]] = {
    "none": (PLAIN,),
    "flip": (PLAIN, View(mirror=True, shift=(0, 0))),
    "flip_translate": tuple(View(mirror, shift) for mirror in (False, True) for shift in ((0, 0), UP_LEFT, DOWN_RIGHT)),
}


def view_images(images: Tensor, view: View) -> Tensor:
    """`images` (N, C, H, W), any dtype, as `view` sees them: a gather, so uint8 stays uint8 (F.pad's 'reflect' mode
    needs floats)."""
    if view == PLAIN:
        return images
    if view.mirror:
        images = images.flip(3)
    (down, right), (height, width) = view.shift, images.shape[2:]
    rows = reflect(torch.arange(height, device=images.device) - down, height)
    cols = reflect(torch.arange(width, device=images.device) - right, width)
    return images[:, :, rows[:, None], cols[None, :]]


@torch.no_grad()
def map_batches(fn: Callable[[Tensor], Tensor], data: DeviceSplit, batch_size: int, precision: str = "fp32",
                view: View = PLAIN) -> Tensor:
    """Float32 `fn(images)` for every image of `data` as `view` sees it, normalised, in order, concatenated over
    batches."""
    outputs = []
    for start in range(0, len(data), batch_size):
        images = normalize(view_images(data.images[start:start + batch_size], view))
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


def tta_log_probs(model: nn.Module, data: DeviceSplit, batch_size: int, precision: str, mode: str,
                  plain_logits: Tensor | None = None) -> Tensor:
    """Float64 log of the mean, over the views `TTA_VIEWS[mode]`, of each image's softmax probabilities, computed
    stably in log space; one view at a time, in batches of `batch_size`. `plain_logits`, the logits of the images
    as they are when the caller has them already, stand in for the plain view's pass.

    It is a valid `logits` argument for `loss_and_accuracy`: its softmax is the averaged distribution itself.
    """
    model.eval()
    views = TTA_VIEWS[mode]
    log_probs = [torch.log_softmax((plain_logits if view == PLAIN and plain_logits is not None
                                    else map_batches(model, data, batch_size, precision, view)).double(), 1)
                 for view in views]
    return torch.logsumexp(torch.stack(log_probs), 0) - math.log(len(views))


def loss_and_correct_sums(logits: Tensor, labels: Tensor) -> Tensor:
    """float64 [summed cross-entropy, number classified correctly]: sums, so shards of a set can be added up."""
    return torch.stack([nn.functional.cross_entropy(logits, labels, reduction="sum").double(),
                        (logits.argmax(1) == labels).sum().double()])


def loss_and_accuracy(logits: Tensor, labels: Tensor) -> tuple[float, float]:
    """Mean cross-entropy and the fraction classified correctly."""
    loss_sum, correct = loss_and_correct_sums(logits, labels).tolist()
    return loss_sum / len(labels), correct / len(labels)
