"""Predictions and test metrics: loss, accuracy, per-class precision/recall/F1 and the confusion matrix."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from torch import Tensor, nn

from .batches import DeviceSplit, eval_batches
from .device import autocast


@torch.no_grad()
def predict_logits(model: nn.Module, data: DeviceSplit, batch_size: int, precision: str = "fp32") -> Tensor:
    """Float32 logits (N, classes) for every image of `data`, in order, with the model in eval mode."""
    model.eval()
    outputs = []
    for images, _ in eval_batches(data, batch_size):
        with autocast(data.device, precision):
            outputs.append(model(images).float())
    return torch.cat(outputs)


def loss_and_accuracy(logits: Tensor, labels: Tensor) -> tuple[float, float]:
    """Mean cross-entropy and the fraction classified correctly."""
    loss = nn.functional.cross_entropy(logits, labels).item()
    accuracy = (logits.argmax(1) == labels).sum().item() / len(labels)
    return loss, accuracy


def per_class_table(labels: np.ndarray, predicted: np.ndarray, classes: tuple[str, ...]) -> pd.DataFrame:
    """Precision, recall, F1 and support per class."""
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=range(len(classes)), zero_division=0)
    return pd.DataFrame({"class": classes, "precision": precision, "recall": recall, "f1": f1,
                         "support": support})


def confusion_table(labels: np.ndarray, predicted: np.ndarray, classes: tuple[str, ...]) -> pd.DataFrame:
    """One row per image with the true and predicted class names: the input of DVC's `confusion` template."""
    names = np.asarray(classes)
    return pd.DataFrame({"actual": names[labels], "predicted": names[predicted]})


def confusion_counts(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    return confusion_matrix(labels, predicted, labels=range(num_classes))
