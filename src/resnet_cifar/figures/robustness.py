"""Figures of the robustness report: accuracy against corruption severity, and what each corruption does to an
image."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..corruption_table import FAMILY
from ..robustness.report import family_means, mean_accuracy

PANEL_COLUMNS = 3


def robustness_figure(table: pd.DataFrame, clean_accuracy: float) -> plt.Figure:
    """Accuracy against severity: a panel per corruption family with a line per corruption and the family's mean
    in black, and a last panel with the families' means side by side; the clean accuracy on the same images is the
    dashed line in each. `table` is a `report.results_table`."""
    means = family_means(table)
    families = list(means.index)
    panels = len(families) + 1
    cols = min(PANEL_COLUMNS, panels)
    rows = -(-panels // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.3 * rows + 0.4), sharey=True, squeeze=False,
                             constrained_layout=True)
    severities = sorted(table["severity"].unique())
    family_axes = list(axes.flat[:len(families)])
    for ax, family in zip(family_axes, families):
        for name, line in table[table["family"] == family].groupby("corruption", sort=False):
            ax.plot(line["severity"], 100 * line["accuracy"], marker="o", markersize=4, label=name.replace("_", " "))
        ax.plot(severities, 100 * means.loc[family, severities], color="black", linewidth=2.5, label="mean")
        ax.set_title(family)
    summary_ax = axes.flat[len(families)]
    for family in families:
        summary_ax.plot(severities, 100 * means.loc[family, severities], marker="o", markersize=4, linewidth=2,
                        label=family)
    summary_ax.set_title("mean per family")
    for ax in [*family_axes, summary_ax]:
        ax.axhline(100 * clean_accuracy, color="gray", linestyle="--", linewidth=1, label="clean")
        ax.set(xlabel="severity", xticks=severities, ylim=(0, 100))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    for ax in axes.flat[panels:]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy (%)")
    fig.suptitle(f"Accuracy under {table['corruption'].nunique()} corruptions at {len(severities)} severities: "
                 f"mean {100 * mean_accuracy(table):.1f}%, clean {100 * clean_accuracy:.1f}% on the same images")
    return fig


GRID_GAP = 12  # pixels between the images of the corruption grid, room for their names


def corruption_grid(clean: np.ndarray, corrupted: dict[str, np.ndarray], severity: int, label: str) -> plt.Figure:
    """One test image (uint8, 3 x 32 x 32) clean and under each corruption at `severity`: a row per family, the
    clean image first in each row so that every corruption sits beside the original.

    The images are laid out in one mosaic drawn by a single imshow: 25 small axes take seconds to lay out."""
    rows: dict[str, list[str]] = {}
    for name in corrupted:
        rows.setdefault(FAMILY[name], []).append(name)
    cols = 1 + max(len(names) for names in rows.values())
    side = clean.shape[-1]
    step = side + GRID_GAP
    mosaic = np.full((len(rows) * step, cols * step - GRID_GAP, 3), 255, np.uint8)
    fig, ax = plt.subplots(figsize=(1.5 * cols + 0.6, 1.6 * len(rows) + 0.5), constrained_layout=True)
    for r, (family, names) in enumerate(rows.items()):
        top = r * step + GRID_GAP
        panels = [("clean", clean), *((name.replace("_", " "), corrupted[name]) for name in names)]
        for c, (title, image) in enumerate(panels):
            mosaic[top:top + side, c * step:c * step + side] = image.transpose(1, 2, 0)
            ax.text(c * step + side / 2, top - 1.5, title, ha="center", va="bottom", fontsize=8,
                    color="black" if title == "clean" else "tab:blue")
        ax.text(-3, top + side / 2, family, rotation=90, ha="right", va="center", fontsize=10)
    ax.imshow(mosaic, interpolation="nearest")
    ax.axis("off")
    ax.set_title(f"A test image ({label}) under each corruption at severity {severity}")
    return fig
