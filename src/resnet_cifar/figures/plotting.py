"""Figures: training history, sample predictions, confusion heatmap, per-class accuracy, reliability diagram and
the feature map (matplotlib, written as PNG)."""
from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # stages run headless
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axis import Axis
from matplotlib.colors import PowerNorm
from matplotlib.textpath import TextPath
from matplotlib.ticker import LogFormatter, MaxNLocator

from ..analysis.scores import NO_PREDICTION, NO_PREDICTION_NAME
from ..atomic import atomic_path

NOTE_STYLE = dict(fontsize=9, color="darkred", bbox=dict(boxstyle="round", facecolor="white", edgecolor="darkred",
                                                           alpha=0.9))


TOOL_DPI = 120  # the figures the tools draw (compare, search); the plot stage takes plot.dpi from params.yaml

# Above this many classes (CIFAR-100, a large image folder) the confusion, per-class and t-SNE figures change layout:
# cell counts, report order and a legend per class stop being readable. At or below it (CIFAR-10) they are unchanged.
MANY_CLASSES = 20


def save_figure(fig: plt.Figure, path: str | Path, dpi: int) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)


def note(ax: plt.Axes, text: str, centre: bool = False) -> None:
    """Write `text` on `ax` in a box that reads over the data: what the axes leave out (bottom left), or why they
    show nothing (centre). A figure of a failed model still says what it cannot show, rather than looking empty."""
    where = dict(x=0.5, y=0.5, ha="center", va="center") if centre else dict(x=0.02, y=0.02, ha="left", va="bottom")
    ax.text(s=textwrap.fill(text, 60), transform=ax.transAxes, zorder=10, **where, **NOTE_STYLE)


def epochs_text(epochs: pd.Series) -> str:
    listed = epochs.tolist()
    return f"epoch{'s' if len(listed) > 1 else ''} {', '.join(map(str, listed))}" if len(listed) <= 5 \
        else f"{len(listed)} epochs"


def drawable(values: pd.Series, epoch: pd.Series, name: str, log: bool) -> tuple[pd.Series, str | None]:
    """`values` with what its axis cannot show masked as NaN (a non-finite value; on a log scale also one <= 0),
    and a phrase naming the epochs masked (None if none were): a diverged run logs inf and NaN losses."""
    not_finite = ~np.isfinite(values)
    not_positive = (values <= 0) if log else pd.Series(False, index=values.index)
    bad = not_finite | not_positive
    if not bad.any():
        return values, None
    why = " or ".join(w for w, hit in (("not finite", not_finite.any()), ("<= 0 on a log scale", not_positive.any()))
                      if hit)
    return values.mask(bad), f"{name} at {epochs_text(epoch[bad])} ({why})"


class PlainLogFormatter(LogFormatter):
    """Tick labels for a log axis as plain numbers (2.6, 0.01) rather than 2.6 x 10^0. Which ticks get a label is
    LogFormatter's choice: every decade, and minor ticks only where the axis spans few enough decades to fit them."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        return f"{x:.4g}" if super().__call__(x, pos) else ""


def plain_log_axis(axis: Axis) -> None:
    axis.set_major_formatter(PlainLogFormatter())
    axis.set_minor_formatter(PlainLogFormatter())


# The fewest epochs whose train-validation gap is drawn: see history_figure.
GAP_EPOCHS = 2


def draw_curves(axes: tuple[plt.Axes, plt.Axes, plt.Axes], history: pd.DataFrame, train: pd.DataFrame) -> None:
    """Loss, accuracy (train and validation) and learning rate on `axes`, with a note naming what a panel could not
    draw. `train` holds the training columns: `history` itself, or the finer curve within epochs."""
    ax_loss, ax_acc, ax_lr = axes
    lines = [(ax_loss, train, "train_loss", "train", 1, True), (ax_loss, history, "val_loss", "validation", 1, True),
             (ax_acc, train, "train_acc", "train", 100, False), (ax_acc, history, "val_acc", "validation", 100, False),
             (ax_lr, train, "lr", None, 1, True)]
    left_out = {}
    for ax, table, column, label, scale, log in lines:
        values, missing = drawable(table[column], table["epoch"], column.replace("_", " "), log)
        ax.plot(table["epoch"], scale * values, marker="o" if len(table) < 30 else None, label=label,
                color="tab:green" if ax is ax_lr else None)
        if missing:
            left_out.setdefault(ax, []).append(missing)
    ax_loss.set(title="Cross-entropy loss", ylabel="loss", yscale="log")
    ax_acc.set(title="Accuracy", ylabel="accuracy (%)")
    ax_lr.set(title="Learning rate", ylabel="lr", yscale="log")
    for ax in (ax_loss, ax_lr):
        plain_log_axis(ax.yaxis)
    for ax, missing in left_out.items():
        note(ax, "not drawn: " + "; ".join(missing))
    for ax in (ax_loss, ax_acc):
        ax.legend()
    for ax in axes:
        ax.set_xlim(left=0)  # training starts at epoch 0: the first epoch shown whole
        ax.set_xlabel("epoch")


def draw_gap(ax: plt.Axes, history: pd.DataFrame) -> None:
    """Training minus validation accuracy per epoch, in points: red where training is ahead."""
    gap = 100 * (history["train_acc"] - history["val_acc"])
    ax.bar(history["epoch"], gap, color=np.where(gap >= 0, "tab:red", "tab:blue"))
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set(title="Generalisation gap (train - validation accuracy)", xlabel="epoch", ylabel="points")
    ax.set_xlim(left=0)  # from epoch 0 as the curves are: whole-epoch ticks even for two bars


def history_figure(history: pd.DataFrame, progress: pd.DataFrame | None = None) -> plt.Figure:
    """Loss, accuracy and learning rate against epochs, and from `GAP_EPOCHS` epochs on the train-validation gap.

    `history` has one row per epoch and columns epoch, train_loss, val_loss, train_acc, val_acc, lr. `progress`, the
    training curve within epochs (columns epoch, loss, acc, lr; `read_progress`), draws the training loss, accuracy
    and learning rate at its finer points instead: a run of one epoch still shows how it learned.

    The gap compares training accuracy averaged over an epoch (augmented images, weights still changing) with
    validation accuracy at its end. One such number says little; its trend over epochs (a widening gap is
    overfitting) is what it shows, so a shorter run draws the three curve panels alone, in a row.
    """
    with_gap = len(history) >= GAP_EPOCHS
    shape, size = ((2, 2), (10, 7)) if with_gap else ((1, 3), (14, 4))
    fig, axes = plt.subplots(*shape, figsize=size, constrained_layout=True)
    fine = progress is not None and len(progress) > 0
    train = progress.rename(columns={"loss": "train_loss", "acc": "train_acc"}) if fine else history
    draw_curves(tuple(axes.flat[:3]), history, train)
    if with_gap:
        draw_gap(axes.flat[3], history)
    for ax in axes.flat:
        ax.grid(alpha=0.3)
        # Whole epochs, unless the axis spans too few for three ticks: then fractions of one (0.2, 0.25 or 0.5).
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=3, steps=[1, 2, 2.5, 5, 10]))
    return fig


GRID_CELL = 1.6  # inches: the width of one image's cell in `prediction_grid`
GRID_FONT = 8  # points: its titles' size, at which CIFAR-10's and CIFAR-100's class names fit the cell
SMALLEST_GRID_FONT = 6
LONGEST_CIFAR10_NAME = len("automobile")


def title_width(name: str, size: float) -> float:
    """Points that the wider of a grid title's two lines about class `name` takes at font `size`."""
    return max(TextPath((0, 0), line, size=size).get_extents().width for line in (f"{name} 100%", f"true: {name}"))


def fit_names(classes: tuple[str, ...]) -> tuple[tuple[str, ...], float]:
    """Class names and the font size for the grid's titles so that no title runs into the next cell's: `GRID_FONT`
    unless a name is longer than CIFAR-10's longest, else the size at which the longest title fits, down to
    `SMALLEST_GRID_FONT`; a name still too wide at that size is cut in the middle ("…")."""
    if max(map(len, classes), default=0) <= LONGEST_CIFAR10_NAME:
        return classes, GRID_FONT
    room = 0.9 * 72 * GRID_CELL  # points, leaving a gap between neighbouring titles
    widest = max(title_width(name, GRID_FONT) for name in classes)
    size = max(SMALLEST_GRID_FONT, min(GRID_FONT, GRID_FONT * room / widest))
    fitted = []
    for name in classes:
        cut, keep = name, len(name)
        while keep > 2 and title_width(cut, size) > room:
            keep -= 1
            cut = f"{name[:(keep + 1) // 2]}…{name[len(name) - keep // 2:]}"
        fitted.append(cut)
    return tuple(fitted), size


def prediction_grid(images: np.ndarray, labels: np.ndarray, predicted: np.ndarray, confidence: np.ndarray,
                    classes: tuple[str, ...], title: str) -> plt.Figure:
    """A grid of test images (uint8, N x 3 x 32 x 32) titled with predicted and true class (`NO_PREDICTION`: the
    model's logits for the image were not finite). Long class names (an image folder's) get a smaller font."""
    classes, fontsize = fit_names(classes)
    n = len(images)
    cols = min(8, max(n, 1))
    rows = max(1, -(-n // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(GRID_CELL * cols, 1.9 * rows + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, y, p, c in zip(axes.flat, images, labels, predicted, confidence):
        ax.imshow(image.transpose(1, 2, 0), interpolation="nearest")
        ok = y == p
        guess = "no prediction" if p == NO_PREDICTION else f"{classes[p]} {100 * c:.0f}%"
        text = guess if ok else f"{guess}\ntrue: {classes[y]}"
        ax.set_title(text, fontsize=fontsize, color="tab:green" if ok else "tab:red")
    if n == 0:
        axes.flat[0].text(0.5, 0.5, "none", ha="center", va="center")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


TOP_PAIRS = 15  # the most-confused pairs listed beside a confusion heatmap of many classes


def confused_pairs(counts: np.ndarray, classes: tuple[str, ...]) -> tuple[list[str], list[int], list[float]]:
    """The `TOP_PAIRS` off-diagonal cells of `counts` (true x predicted class, maybe with a last column of images
    without a prediction, which is no pair) with most images, most first, as labels "true → predicted", counts and
    fractions of the true class (its whole row, as the heatmap's); cells with no image are left out."""
    off = counts[:, :len(classes)].astype(float)
    np.fill_diagonal(off, 0)
    order = [k for k in np.argsort(-off, axis=None, kind="stable")[:TOP_PAIRS] if off.flat[k] > 0]
    rows, cols = np.unravel_index(order, off.shape) if order else ([], [])
    totals = np.maximum(counts.sum(axis=1), 1)
    return ([f"{classes[i]} → {classes[j]}" for i, j in zip(rows, cols)],
            [int(counts[i, j]) for i, j in zip(rows, cols)], [counts[i, j] / totals[i] for i, j in zip(rows, cols)])


def draw_confused_pairs(ax: plt.Axes, counts: np.ndarray, classes: tuple[str, ...]) -> None:
    """Bars of the most-confused pairs (`confused_pairs`), most on top, each labelled with its count and share."""
    labels, numbers, shares = confused_pairs(counts, classes)
    off_diagonal = int(counts[:, :len(classes)].sum() - np.trace(counts))
    bars = ax.barh(labels, numbers, color="tab:red")
    ax.bar_label(bars, labels=[f"{c} ({100 * f:.0f}% of true)" for c, f in zip(numbers, shares)], padding=3,
                 fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel="test images", title=f"Most confused pairs: true → predicted\n(top {len(labels)}; "
                                       f"{off_diagonal} images predicted as another class)")
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlim(0, 1.45 * max(numbers, default=1))  # room for the labels
    ax.grid(axis="x", alpha=0.3)
    if not labels:
        note(ax, "no test image is misclassified", centre=True)


def many_class_confusion(counts: np.ndarray, rates: np.ndarray, classes: tuple[str, ...],
                         columns: list[str]) -> plt.Figure:
    """The heatmap of `confusion_figure` for many classes: no counts in the cells (unreadable at 100 classes),
    every class named at a font that fits its row, the figure grown with the classes; beside it, the pairs most
    confused. The colours follow the square root of the rate: spread over 99 other classes, a class's confusions
    are a few percent each, which a linear scale leaves white."""
    side = min(16.0, 6 + 0.1 * len(columns))  # inches of the heatmap's figure height
    fig = plt.figure(figsize=(side + 5, side), constrained_layout=True)
    grid = fig.add_gridspec(2, 2, width_ratios=(side, 5), height_ratios=(1, 1.6))
    ax = fig.add_subplot(grid[:, 0])
    im = ax.imshow(rates, cmap="Blues", norm=PowerNorm(0.5, vmin=0, vmax=1))
    fontsize = float(np.clip(0.7 * 72 * (side - 1.5) / len(columns), 4, 8))
    ax.set_xticks(range(len(columns)), columns, rotation=90, fontsize=fontsize)
    ax.set_yticks(range(len(classes)), classes, fontsize=fontsize)
    ax.set(xlabel="predicted class", ylabel="true class",
           title=f"Confusion matrix (row-normalised; {len(classes)} classes)")
    fig.colorbar(im, ax=ax, label="fraction of true class (square-root scale)", shrink=0.5)
    draw_confused_pairs(fig.add_subplot(grid[0, 1]), counts, classes)
    return fig


def confusion_figure(counts: np.ndarray, classes: tuple[str, ...],
                     no_prediction: np.ndarray | None = None) -> plt.Figure:
    """Row-normalised confusion heatmap with the raw counts written in each cell. `no_prediction`, when given, counts
    per true class the images without a prediction (logits not finite): drawn as a last column of their own. Above
    `MANY_CLASSES` classes the cells carry no counts and the most-confused pairs are listed beside them instead."""
    columns = list(classes)
    if no_prediction is not None:
        counts = np.column_stack([counts, no_prediction])
        columns.append(NO_PREDICTION_NAME)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    if len(classes) > MANY_CLASSES:
        return many_class_confusion(counts, rates, classes, columns)
    fig, ax = plt.subplots(figsize=(8, 7), constrained_layout=True)
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(columns)), columns, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set(xlabel="predicted class", ylabel="true class", title="Confusion matrix (row-normalised; counts in cells)")
    for i in range(len(classes)):
        for j in range(len(columns)):
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if rates[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, label="fraction of true class")
    return fig


def palette(n: int) -> list:
    """`n` colours told apart: tab20's up to 20; beyond, spread over a continuous map in golden-ratio steps, so that
    neighbouring indices (classes next to each other alphabetically) get far-apart colours."""
    if n <= 20:
        return [plt.get_cmap("tab20")(k) for k in range(n)]
    return [plt.get_cmap("turbo")(0.05 + 0.9 * ((k * 0.618034) % 1)) for k in range(n)]


def colour_many(ax: plt.Axes, coords: np.ndarray, labels: np.ndarray, classes: tuple[str, ...],
                groups: tuple[str, ...] | None) -> str:
    """Scatter the points of more than 10 classes, by superclass when `groups` names one per class, else by class;
    with a legend entry per colour up to 20 colours, none beyond (repeated or near colours name nothing). Returns
    the title's line saying what the colours are."""
    if groups is not None and len(groups) != len(classes):
        raise ValueError(f"{len(groups)} superclasses given for {len(classes)} classes")
    names = sorted(set(groups)) if groups is not None else list(classes)
    unit = np.array([names.index(g) for g in groups]) if groups is not None else np.arange(len(classes))
    shade = unit[labels]  # each point's colour: the index of its superclass or class in `names`
    colours = palette(len(names))
    of = "superclass" if groups is not None else "class"
    if len(names) > 20:
        ax.scatter(coords[:, 0], coords[:, 1], s=14, c=[colours[u] for u in shade], linewidths=0)
        return f"coloured by {of} ({len(names)} {of}es, no legend)"
    for k, name in enumerate(names):
        here = shade == k
        ax.scatter(coords[here, 0], coords[here, 1], s=14, color=colours[k], label=name, linewidths=0)
    return f"coloured by {of}"


def embedding_figure(coords: np.ndarray, labels: np.ndarray, predicted: np.ndarray,
                     classes: tuple[str, ...], remark: str | None = None,
                     groups: tuple[str, ...] | None = None) -> plt.Figure:
    """2-D map of test images coloured by true class; misclassified images ringed in black. `remark` (what the map
    leaves out, or why it is empty: `embedding.FeatureMap.note`) is written on it; an empty map shows it centred.

    Above 10 classes tab10 would repeat its colours: `groups` (groups[k] the superclass of class k) colours by
    superclass instead; without it, 11 to 20 classes take tab20 and more a colour map without a legend."""
    fig, ax = plt.subplots(figsize=(8, 7), constrained_layout=True)
    colours = plt.get_cmap("tab10")
    coloured = ""
    if len(classes) <= 10:
        for k, name in enumerate(classes):
            here = labels == k
            ax.scatter(coords[here, 0], coords[here, 1], s=14, color=colours(k % 10), label=name, linewidths=0)
    else:
        coloured = "\n" + colour_many(ax, coords, labels, classes, groups)
    wrong = labels != predicted
    ax.scatter(coords[wrong, 0], coords[wrong, 1], s=40, facecolors="none", edgecolors="black", linewidths=0.8,
               label="misclassified")
    counted = f" ({len(labels)} test images, {wrong.sum()} misclassified)" if len(labels) else ""
    ax.set(title=f"t-SNE of penultimate features{counted}{coloured}", xticks=[], yticks=[])
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, markerscale=1.5,
              **(dict(fontsize=8) if coloured else {}))
    if remark:
        note(ax, remark, centre=len(coords) == 0)
    return fig


def per_class_accuracy_figure(accuracy: dict[str, float | None], overall: float) -> plt.Figure:
    """Horizontal bar per class (None: the class has no test images), with the overall accuracy dashed. Above
    `MANY_CLASSES` classes the bars are sorted, lowest accuracy on top (the classes to look at first; those without
    test images above them), thinner and with smaller labels, so that 100 names read."""
    names = list(accuracy)
    many = len(names) > MANY_CLASSES
    if many:
        names.sort(key=lambda n: -1.0 if accuracy[n] is None else accuracy[n])
    values = [100 * accuracy[n] if accuracy[n] is not None else 0.0 for n in names]
    per_bar, fontsize = (0.16, 6) if many else (0.38, 8)
    fig, ax = plt.subplots(figsize=(7, per_bar * len(names) + 1.2), constrained_layout=True)
    bars = ax.barh(names, values, color="tab:blue")
    ax.bar_label(bars, labels=[f"{v:.1f}" if accuracy[n] is not None else "no test images"
                               for n, v in zip(names, values)], padding=3, fontsize=fontsize)
    ax.axvline(100 * overall, color="black", linestyle="--", linewidth=1, label=f"overall {100 * overall:.1f}%")
    ax.invert_yaxis()  # first class on top, in the order of the classification report (many classes: sorted)
    title = f"Test accuracy per class ({len(names)} classes, sorted: lowest on top)" if many \
        else "Test accuracy per class"
    ax.set(xlim=(0, 105), xlabel="accuracy (%) = recall", title=title)
    if many:
        ax.tick_params(axis="y", labelsize=fontsize)
        ax.margins(y=0.005)
    ax.legend(loc="upper right" if many else "best")  # many: the short bars on top leave that corner free
    ax.grid(axis="x", alpha=0.3)
    return fig


def reliability_figure(table: pd.DataFrame, ece: float | None, without_prediction: int = 0) -> plt.Figure:
    """Reliability diagram: accuracy against confidence per bin (with the gap to the diagonal), and bin counts.

    `table` is a `calibration.reliability_table`: columns lower, upper, count, confidence, accuracy. It covers the
    images with a prediction; a note counts the others, and an empty table (ECE None) is said to be empty.
    """
    fig, (ax, ax_count) = plt.subplots(2, 1, figsize=(6, 7.5), sharex=True, height_ratios=(3, 1),
                                       constrained_layout=True)
    width = table["upper"] - table["lower"]
    ax.bar(table["lower"], table["accuracy"], width=width, align="edge", color="tab:blue", edgecolor="black",
           linewidth=0.6, label="accuracy")
    ax.bar(table["lower"], table["confidence"] - table["accuracy"], bottom=table["accuracy"], width=width,
           align="edge", color="tab:red", alpha=0.3, hatch="//", edgecolor="tab:red", linewidth=0.6,
           label="gap to mean confidence")
    ax.plot([0, 1], [0, 1], color="gray", linestyle="--", label="perfect calibration")
    title = "Reliability diagram (ECE undefined)" if ece is None else f"Reliability diagram (ECE {100 * ece:.2f}%)"
    ax.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy", title=title)
    ax.legend(loc="upper left")
    ax_count.bar(table["lower"], table["count"], width=width, align="edge", color="tab:gray", edgecolor="black",
                 linewidth=0.6)
    ax_count.set(xlabel="confidence (top-class probability)", ylabel="images")
    for a in (ax, ax_count):
        a.grid(alpha=0.3)
    if table.empty:
        note(ax, "not drawn: no test image has a prediction (logits not finite)", centre=True)
    elif without_prediction:
        note(ax, f"left out: {without_prediction} images without a prediction (logits not finite)")
    return fig
