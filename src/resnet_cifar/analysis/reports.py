"""Test-set reports from predicted and true labels: scikit-learn's classification report, per-class accuracy, the
most confident mistakes and the confusion data."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import classification_report, confusion_matrix

from .scores import NO_PREDICTION, NO_PREDICTION_NAME

AVERAGES = ("macro avg", "weighted avg")


def classification_report_table(labels: np.ndarray, predicted: np.ndarray, classes: tuple[str, ...]) -> pd.DataFrame:
    """scikit-learn's classification report: precision, recall, F1 and support per class, then macro and weighted
    averages. A class's recall is its accuracy: the fraction of its test images classified correctly (an image
    without a prediction, `NO_PREDICTION`, counts against its class's recall and no class's precision)."""
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
    """One row per image with the true and predicted class names: the input of DVC's `confusion` template. An image
    without a prediction is predicted `NO_PREDICTION_NAME`, a column of its own."""
    names = np.asarray(classes)
    guessed = np.where(predicted == NO_PREDICTION, NO_PREDICTION_NAME, names[predicted])
    return pd.DataFrame({"actual": names[labels], "predicted": guessed})


def confusion_counts(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """(true, predicted) counts over the classes; images without a prediction are not counted."""
    return confusion_matrix(labels, predicted, labels=range(num_classes))
