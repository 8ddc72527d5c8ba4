"""Figures of a search: the best objective so far against the trial number, each parameter against the objective,
the parameters' importances, and each trial's validation accuracy per epoch with the pruned trials marked."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # the search runs headless
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import FormatStrFormatter, LogLocator, MaxNLocator, NullFormatter

from .plotting import TOOL_DPI, note, save_figure


def error_bars(trials: pd.DataFrame) -> pd.Series | None:
    """Each trial's standard error (column `se`) where the table has one: the objective is measured on few
    validation images, and the bars show which differences between trials are noise."""
    if "se" not in trials or trials["se"].isna().all():
        return None
    return trials["se"].fillna(0)


def best_so_far_figure(trials: pd.DataFrame, objective: str) -> plt.Figure:
    """`trials`: one row per finished trial, columns `number`, `value` and, optionally, its standard error `se`."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ordered = trials.sort_values("number")
    ax.errorbar(ordered["number"], ordered["value"], yerr=error_bars(ordered), fmt="o", color="tab:gray",
                alpha=0.6, capsize=3, label="trial (± 1 standard error)")
    ax.step(ordered["number"], ordered["value"].cummax(), where="post", color="tab:blue", label="best so far")
    ax.set(xlabel="trial number", ylabel=objective, title=f"The highest {objective} so far")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="best")
    return fig


def parameters_figure(trials: pd.DataFrame, params: dict[str, bool], objective: str) -> plt.Figure:
    """One panel per parameter: its value in each finished trial against the objective; `params` maps each
    parameter to whether its axis is logarithmic."""
    columns = min(3, len(params))
    rows = math.ceil(len(params) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3.4 * rows), squeeze=False)
    for ax, (name, log) in zip(axes.flat, params.items()):
        values = trials[name]
        numeric = pd.api.types.is_numeric_dtype(values)
        ax.errorbar(values if numeric else values.astype(str).tolist(), trials["value"], yerr=error_bars(trials),
                    fmt="o", alpha=0.7, capsize=3)
        ax.set(xlabel=name, ylabel=objective)
        if log and numeric:  # minor labels of a narrow log range are long: a few, plainly written
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))  # 0.1, 0.2, 0.5, 1, ...: round values
            ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
            ax.tick_params(axis="x", labelrotation=30)
        if trials.empty:
            note(ax, "no finished trial yet", centre=True)
    for ax in axes.flat[len(params):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def importances_figure(importances: dict[str, float], objective: str) -> plt.Figure:
    """A bar per parameter, its share of the variance of the objective (fANOVA), largest on top."""
    fig, ax = plt.subplots(figsize=(6, 0.5 * max(len(importances), 2) + 1.2))
    names = list(importances)[::-1]
    ax.barh(names, [importances[n] for n in names], color="tab:blue")
    for y, name in enumerate(names):
        ax.text(importances[name], y, f" {importances[name]:.2f}", va="center")
    ax.set(xlim=(0, 1.1), xlabel=f"share of the variance of {objective} (fANOVA)", title="What mattered")
    if not importances:
        note(ax, "needs two complete trials with different parameters", centre=True)
    fig.tight_layout()
    return fig


def epochs_figure(curves: dict[int, tuple[dict[int, float], bool]]) -> plt.Figure:
    """Each trial's validation accuracy after each epoch: complete trials in solid lines, pruned ones dashed and
    ending in a cross at the epoch where they were stopped."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for number, (values, pruned) in sorted(curves.items()):
        epochs, accuracy = list(values), list(values.values())
        style = {"color": "tab:red", "linestyle": "--", "alpha": 0.7} if pruned else {"color": "tab:blue"}
        ax.plot(epochs, accuracy, marker=".", **style)
        if pruned:
            ax.plot(epochs[-1], accuracy[-1], marker="x", markersize=9, color="tab:red")
        ax.annotate(str(number), (epochs[-1], accuracy[-1]), textcoords="offset points", xytext=(4, 0), fontsize=7)
    ax.plot([], [], color="tab:blue", label="complete")
    ax.plot([], [], color="tab:red", linestyle="--", marker="x", label="pruned (x: stopped)")
    ax.set(xlabel="epoch", ylabel="validation accuracy", title="Each trial's validation accuracy by epoch")
    last = max((max(values) for values, _ in curves.values() if values), default=1)
    if last <= 20:  # whole epochs only
        ax.set_xticks(range(1, last + 1))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0.5, last + 0.5)
    if curves:
        ax.legend(loc="best")
    else:
        note(ax, "no trial reported an epoch", centre=True)
    return fig


def save_search_figures(trials: pd.DataFrame, params: dict[str, bool], objective: str, folder: Path,
                        importances: dict[str, float] | None = None,
                        curves: dict[int, tuple[dict[int, float], bool]] | None = None) -> list[Path]:
    """The figures into `folder` (the importances and epoch curves where given); their paths."""
    figures = {"best_so_far.png": best_so_far_figure(trials, objective),
               "parameters.png": parameters_figure(trials, params, objective)}
    if importances is not None:
        figures["importances.png"] = importances_figure(importances, objective)
    if curves is not None:
        figures["epochs.png"] = epochs_figure(curves)
    for name, figure in figures.items():
        save_figure(figure, folder / name, TOOL_DPI)
    return [folder / name for name in figures]
