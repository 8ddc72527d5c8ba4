"""The comparison's figure: test accuracy ± standard error against training seconds, the Pareto front marked."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from ..experiments.uncertainty import pareto_front
from .plotting import TOOL_DPI, save_figure


def plot_accuracy_vs_time(rows: pd.DataFrame, path: Path) -> None:
    """One point per row (`acc`, `±`, `train_s`; labelled by `label`, else by `experiment` and `n`), error bars of
    ± one standard error, the Pareto front (no other row both more accurate and faster) joined in a line; a PNG
    written atomically."""
    front = pareto_front(rows["acc"], rows["train_s"])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.errorbar(rows["train_s"], rows["acc"], yerr=rows["±"].fillna(0), fmt="o", capsize=3,
                label="experiment or group (± 1 standard error)")
    for _, row in rows.iterrows():
        n = int(row["n"]) if "n" in row and pd.notna(row["n"]) else 1
        label = row["label"] if "label" in row else row["experiment"] + (f" (n={n})" if n > 1 else "")
        ax.annotate(label, (row["train_s"], row["acc"]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    best = rows[front].sort_values("train_s")
    ax.plot(best["train_s"], best["acc"], "-s", color="tab:red", label="Pareto front")
    ax.margins(x=0.1)  # room for the labels of the outermost points
    ax.set_xlabel("training seconds")
    ax.set_ylabel("test accuracy (± 1 standard error)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, TOOL_DPI)
