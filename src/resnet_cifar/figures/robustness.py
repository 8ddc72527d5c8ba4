"""Figures of the robustness report: accuracy against corruption severity, and what each corruption does to an
image."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..robustness.corruptions import FAMILY
from ..robustness.report import family_means, mean_accuracy


def robustness_figure(table: pd.DataFrame, clean_accuracy: float) -> plt.Figure:
    """Accuracy against severity, one panel per corruption family with a line per corruption and the family's mean
    in black; the clean accuracy on the same images is the dashed line. `table` is a `report.results_table`."""
    means = family_means(table)
    families = list(means.index)
    fig, axes = plt.subplots(1, len(families), figsize=(3.2 * len(families) + 0.6, 3.8), sharey=True, squeeze=False,
                             constrained_layout=True)
    severities = sorted(table["severity"].unique())
    for ax, family in zip(axes.flat, families):
        rows = table[table["family"] == family]
        for name, line in rows.groupby("corruption", sort=False):
            ax.plot(line["severity"], 100 * line["accuracy"], marker="o", markersize=4, label=name.replace("_", " "))
        ax.plot(severities, 100 * means.loc[family, severities], color="black", linewidth=2.5, label="mean")
        ax.axhline(100 * clean_accuracy, color="gray", linestyle="--", linewidth=1, label="clean")
        ax.set(title=family, xlabel="severity", xticks=severities, ylim=(0, 100))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    axes.flat[0].set_ylabel("accuracy (%)")
    fig.suptitle(f"Accuracy under {table['corruption'].nunique()} corruptions at {len(severities)} severities: "
                 f"mean {100 * mean_accuracy(table):.1f}%, clean {100 * clean_accuracy:.1f}% on the same images")
    return fig


def corruption_grid(clean: np.ndarray, corrupted: dict[str, np.ndarray], severity: int, label: str) -> plt.Figure:
    """One test image (uint8, 3 x 32 x 32) clean and under each corruption at `severity`: a row per family, the
    clean image first in each row so that every corruption sits beside the original."""
    rows: dict[str, list[str]] = {}
    for name in corrupted:
        rows.setdefault(FAMILY[name], []).append(name)
    cols = 1 + max(len(names) for names in rows.values())
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.7 * cols, 1.9 * len(rows) + 0.5), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for (family, names), row in zip(rows.items(), axes):
        panels = [("clean", clean), *((name.replace("_", " "), corrupted[name]) for name in names)]
        for ax, (title, image) in zip(row, panels):
            ax.imshow(image.transpose(1, 2, 0), interpolation="nearest")
            ax.set_title(title, fontsize=8, color="black" if title == "clean" else "tab:blue")
        row[0].text(-0.15, 0.5, family, transform=row[0].transAxes, rotation=90, ha="right", va="center",
                    fontsize=10)
    fig.suptitle(f"A test image ({label}) under each corruption at severity {severity}")
    fig.tight_layout()
    return fig
