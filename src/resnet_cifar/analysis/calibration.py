"""Calibration of the top-class confidence: the reliability table and the expected calibration error (ECE).

A model is calibrated when, among the images it classifies with confidence p, a fraction p is classified correctly.
Confidences are grouped into equal-width bins; ECE is the support-weighted mean gap between accuracy and mean
confidence over the bins (Guo et al., 2017, "On Calibration of Modern Neural Networks").
"""
from __future__ import annotations

import numpy as np
import pandas as pd

COLUMNS = ["lower", "upper", "count", "confidence", "accuracy"]


def reliability_table(confidence: np.ndarray, correct: np.ndarray, bins: int) -> pd.DataFrame:
    """One row per non-empty bin of (lower, upper]: its edges, image count, mean confidence and accuracy.

    The first bin also holds confidence 0.
    """
    edges = np.linspace(0.0, 1.0, bins + 1)
    frame = pd.DataFrame({"bin": pd.cut(confidence, edges, labels=False, include_lowest=True),
                          "confidence": confidence.astype(np.float64), "correct": correct.astype(np.float64)})
    grouped = frame.groupby("bin").agg(count=("correct", "size"), confidence=("confidence", "mean"),
                                       accuracy=("correct", "mean")).reset_index()
    grouped["lower"], grouped["upper"] = edges[grouped["bin"]], edges[grouped["bin"] + 1]
    return grouped[COLUMNS]


def expected_calibration_error(table: pd.DataFrame) -> float | None:
    """Support-weighted mean |accuracy - confidence| over the bins of a `reliability_table`; None for a table of
    no images (a model with no finite prediction), where 0 would claim perfect calibration."""
    if table["count"].sum() == 0:
        return None
    weights = table["count"] / table["count"].sum()
    return float((weights * (table["accuracy"] - table["confidence"]).abs()).sum())
