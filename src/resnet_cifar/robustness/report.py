"""The robustness report's numbers: accuracy per corruption and severity, and the means CIFAR-10-C reports.

The benchmark's figure is the mean accuracy over its 15 corruptions and 5 severities, each pair weighing the same
(Hendrycks & Dietterich, ICLR 2019). Every corruption here is run at the same severities, so the mean of the rows
is also the mean over corruptions of each corruption's mean over severities.
"""
from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from ..corruption_table import FAMILY, STANDARD

COLUMNS = ("corruption", "family", "severity", "accuracy")


def results_table(accuracy: Mapping[tuple[str, int], float]) -> pd.DataFrame:
    """One row per (corruption, severity): columns corruption, family, severity, accuracy, in the mapping's order."""
    rows = [(name, FAMILY[name], severity, value) for (name, severity), value in accuracy.items()]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def mean_accuracy(table: pd.DataFrame) -> float:
    """The mean over the table's corruptions and severities."""
    if table.empty:
        raise ValueError("no corruption was evaluated")
    return float(table["accuracy"].mean())


def summary(table: pd.DataFrame, clean_accuracy: float) -> dict:
    """The metrics: clean accuracy on the same images, the mean corrupted accuracy, the mean over the 15 standard
    corruptions alone where the table has all of them and others too (the figure papers quote), and corrupted
    relative to clean (None if the clean accuracy is 0)."""
    corrupted = mean_accuracy(table)
    metrics: dict = {"clean_acc": clean_accuracy, "corrupted_acc": corrupted}
    names = set(table["corruption"])
    if set(STANDARD) <= names and names - set(STANDARD):
        metrics["corrupted_acc_15"] = mean_accuracy(table[table["corruption"].isin(STANDARD)])
    metrics["relative_acc"] = corrupted / clean_accuracy if clean_accuracy > 0 else None
    return metrics


def severity_means(table: pd.DataFrame) -> dict[int, float]:
    """Mean accuracy over the corruptions at each severity, in increasing severity."""
    return {int(s): float(a) for s, a in table.groupby("severity", sort=True)["accuracy"].mean().items()}


def family_means(table: pd.DataFrame) -> pd.DataFrame:
    """Mean accuracy per family (rows, in the table's order) and severity (columns)."""
    families = list(dict.fromkeys(table["family"]))
    means = table.pivot_table(index="family", columns="severity", values="accuracy", aggfunc="mean")
    return means.loc[families]


def rounded(metrics: dict, digits: int = 6) -> dict:
    """`metrics` with every float rounded, nested dicts too (`dvc exp show` stays narrow)."""
    def one(value):
        if isinstance(value, dict):
            return {k: one(v) for k, v in value.items()}
        return round(value, digits) if isinstance(value, float) else value
    return one(metrics)
