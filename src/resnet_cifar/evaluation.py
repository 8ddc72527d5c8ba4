"""Predictions and test metrics: loss, accuracy, flip test-time augmentation, the classification report and the
confusion matrix."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import classification_report, confusion_matrix
from torch import Tensor, nn

from .batches import DeviceSplit, eval_batches
from .device import autocast
from .models import ResNet

AVERAGES = ("macro avg", "weighted avg")


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


def classification_report_table(labels: np.ndarray, predicted: np.ndarray, classes: tuple[str, ...]) -> pd.DataFrame:
    """scikit-learn's classification report: precision, recall, F1 and support per class, then macro and weighted
    averages. A class's recall is its accuracy: the fraction of its test images classified correctly."""
    report = classification_report(labels, predicted, labels=range(len(classes)), target_names=list(classes),
                                   zero_division=0, output_dict=True)
    rows = [{"class": name, **report[name]} for name in (*classes, *AVERAGES)]
    return pd.DataFrame(rows).rename(columns={"f1-score": "f1"}).astype({"support": int})


def per_class_accuracy(report: pd.DataFrame) -> dict[str, float | None]:
    """Class name -> accuracy (recall) from a `classification_report_table`; None for a class without test images."""
    classes = report[~report["class"].isin(AVERAGES)]
    return {name: float(recall) if support > 0 else None
            for name, recall, support in zip(classes["class"], classes["recall"], classes["support"])}


def most_confident_mistakes(labels: np.ndarray, predicted: np.ndarray, confidence: np.ndarray,
                            count: int) -> np.ndarray:
    """Indices of up to `count` misclassified images, highest confidence first (ties in test-set order)."""
    wrong = np.flatnonzero(predicted != labels)
    return wrong[np.argsort(-confidence[wrong], kind="stable")[:count]]


def confusion_table(labels: np.ndarray, predicted: np.ndarray, classes: tuple[str, ...]) -> pd.DataFrame:
    """One row per image with the true and predicted class names: the input of DVC's `confusion` template."""
    names = np.asarray(classes)
    return pd.DataFrame({"actual": names[labels], "predicted": names[predicted]})


def confusion_counts(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    return confusion_matrix(labels, predicted, labels=range(num_classes))
