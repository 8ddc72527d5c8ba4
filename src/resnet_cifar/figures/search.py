"""Figures of a search: the best objective so far against the trial number, and each parameter against the
objective."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # the search runs headless
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

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


def save_search_figures(trials: pd.DataFrame, params: dict[str, bool], objective: str, folder: Path) -> list[Path]:
    """Both figures into `folder`; their paths."""
    paths = [folder / "best_so_far.png", folder / "parameters.png"]
    for figure, path in zip((best_so_far_figure(trials, objective), parameters_figure(trials, params, objective)),
                            paths):
        save_figure(figure, path, TOOL_DPI)
    return paths
