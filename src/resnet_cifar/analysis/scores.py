"""Test scores from logits that stay defined whatever the model learned.

A model that has diverged may give logits in the millions, or logits that are infinite or NaN. This module's rules:

- Everything is computed in float64: logits near the float32 limit still give a finite loss, and a softmax that is
  exactly one-hot rather than NaN.
- An image whose logits are not all finite gets no prediction (`NO_PREDICTION`) and all-zero probabilities: no
  class can honestly be read from NaN, and one infinite logit leaves the others' share undefined.
- Accuracy is over all images; an image without a prediction counts as misclassified, so a model that outputs NaN
  everywhere scores 0, not "undefined".
- The loss is None (null in the metrics file) when any image lacks a prediction: its cross-entropy is infinite or
  undefined, and a mean over the other images alone would flatter the model.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NO_PREDICTION = -1
NO_PREDICTION_NAME = "(no prediction)"  # its name where a class name would stand


@dataclass(frozen=True)
class Scores:
    probs: np.ndarray  # float32 (N, classes): softmax, all zeros for an image without a prediction
    predicted: np.ndarray  # int64 (N,): argmax class, or NO_PREDICTION
    accuracy: float
    loss: float | None

    @property
    def has_prediction(self) -> np.ndarray:
        return self.predicted != NO_PREDICTION

    def warning(self, what: str) -> str | None:
        """One line saying how many of `what` have no prediction and what that does to the metrics; None if all
        have one."""
        missing = int((~self.has_prediction).sum())
        if missing == 0:
            return None
        return (f"warning: {missing} of {len(self.predicted)} {what} have logits that are not finite (NaN or "
                f"infinity; the model has diverged): they have no prediction and count as misclassified, the loss is "
                f"null, and the calibration (ECE) covers only the images with a prediction (null if none has one)")


def score_logits(logits: np.ndarray, labels: np.ndarray) -> Scores:
    """Softmax, predictions, accuracy and mean cross-entropy of (N, classes) logits (or log-probabilities) against
    integer labels, by the rules in this module's docstring."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels)
    finite = np.isfinite(logits).all(axis=1)
    safe = np.where(finite[:, None], logits, 0.0)
    shifted = safe - safe.max(axis=1, keepdims=True)  # largest logit 0: exp cannot overflow
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    probs = np.where(finite[:, None], np.exp(log_probs), 0.0)
    predicted = np.where(finite, safe.argmax(axis=1), NO_PREDICTION).astype(np.int64)
    accuracy = float((predicted == labels).mean())
    loss = float(-log_probs[np.arange(len(labels)), labels].mean()) if finite.all() else None
    return Scores(probs.astype(np.float32), predicted, accuracy, loss)
