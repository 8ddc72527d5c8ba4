"""Experiments compared on one screen, the best test accuracy first, each with how sure it is.

`python -m resnet_cifar.tools.compare [-A] [--runs] [--csv FILE] [--plot FILE]` prints one row per group of
experiments with results (the baseline commit's, the workspace's if they differ, each experiment's). A group is the
runs whose parameters differ only in `seed`; its row gives n (runs), the mean test accuracy ± the standard error of
that mean, and the sd over seeds. A run alone gives its accuracy ± the binomial standard error on its
data.test_size test images. Rows also show the main settings, every other parameter that differs between the rows,
the loss, mean accuracy under corruption, best validation accuracy, training time and images/s, and what ran it
(device, precision, torch), in at most 120 columns. `--runs` lists the runs with their group's number, `--plot`
draws accuracy against training seconds with the Pareto front, `-A` takes the experiments of every commit, as
`dvc exp show -A` does.

Code dependencies' hashes do not split a group: a sweep runs one commit's code, and the data subsets' hashes follow
from the parameters and the seed.

A pipeline: the experiments from the store (experiments/store.py, what `dvc exp show` shows), runs and seed groups
with their statistics on named columns (experiments/comparison.py), then this module's view of them: short
headers, rounding, the varied parameters, fitted to the screen (text_table.py).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from ..atomic import atomic_path
from ..errors import UserError, report_user_errors
from ..experiments.comparison import (
    ACCURACY,
    ACCURACY_SD,
    ACCURACY_SE,
    EXPERIMENT,
    GROUP,
    RAN_ON,
    RESULTS,
    N,
    compare_runs,
    seed_groups,
    varied,
)
from ..experiments.store import Experiment, ExperimentStore
from ..figures.experiments import plot_accuracy_vs_time
from ..text_table import fit_table

# The main settings and the results, named as the comparison names them -> the header shown, in the table's order.
SETTINGS = {"model.arch": "arch", "train.epochs": "ep", "train.lr": "lr", "train.batch_size": "batch",
            "data.train_size": "n_train"}
SHOWN_RESULTS = {ACCURACY: "acc", ACCURACY_SE: "±", ACCURACY_SD: "sd", "loss": "loss", "corrupted_acc": "c_acc",
                 "best.val_acc": "best_val", "time.train_seconds": "train_s", "time.images_per_sec": "img/s"}
HEADERS_HELP = ("ep: epochs, batch: batch size, n_train: training images, acc / loss: on the test subset (best "
                "checkpoint), c_acc: its mean accuracy under the image corruptions (stage robustness), "
                "best_val: best validation accuracy, train_s: training seconds, img/s: training images per second, "
                "ran_on: [processes x] device, precision, torch version. Other columns: the parameters that differ "
                "between the rows, under their key's last component. "
                "A group: the runs whose parameters differ only in seed (code and data hashes do not count); n: its "
                "runs, acc: their mean, sd: the sd over seeds, ±: the standard error of the mean (sd / sqrt(n)); "
                "for one run, ± is the binomial standard error sqrt(acc (1 - acc) / data.test_size).")
WIDTH = 120
HEADER_CHARS = 10  # a varied parameter's header at most; the key's last component is usually shorter
# Left out first when the table is too wide, in this order: results few compare on, then the fixed settings where
# every row has the same value (`constant` below), then best_val.
DROPPABLE = ("img/s", "loss", "c_acc", "constant", "best_val")
# What the rows learned, where it differs between them: shown first among the varied parameters, and kept.
DATA_KEYS = {"data.dataset": "dataset", "data.labels": "labels"}
KEPT = ("experiment", "group", "n", "acc", "±", "sd", "train_s", "ran_on", *SETTINGS.values(),
        *DATA_KEYS.values())  # never left out
FORMATS = {
    "n": "{:.0f}", "group": "{:.0f}", "±": "{:.4f}", "sd": "{:.4f}",
    "ep": "{:.0f}", "lr": "{:.3g}", "batch": "{:.0f}", "n_train": "{:.0f}", "acc": "{:.4f}", "loss": "{:.4f}",
    "c_acc": "{:.4f}", "best_val": "{:.4f}", "train_s": "{:.1f}", "img/s": "{:.1f}",
}


def short_headers(keys: list[str], taken: set[str]) -> dict[str, str]:
    """Each key's header: its last component cut to `HEADER_CHARS`, or more of the key where that is not unique."""
    headers: dict[str, str] = {}
    for key in keys:
        parts = key.split(".")
        for depth in range(1, len(parts) + 1):
            header = ".".join(parts[-depth:])[-HEADER_CHARS:] if depth > 1 else parts[-1][:HEADER_CHARS]
            if header not in taken:
                break
        taken.add(header)
        headers[key] = header
    return headers


def shown(frame: pd.DataFrame, varied_params: list[str]) -> pd.DataFrame:
    """The columns the table shows, under their headers: the name, the group (and n), the main settings, the other
    parameters that vary, the results, what ran it."""
    data = {key: header for key, header in DATA_KEYS.items() if key in varied_params}
    others = [p for p in varied_params if p not in SETTINGS and p not in DATA_KEYS]
    settings = {**SETTINGS, **data, **short_headers(others, taken={*SETTINGS.values(), *DATA_KEYS.values(),
                                                                   *SHOWN_RESULTS.values(), GROUP, N})}
    counts = [N] if N in frame else []
    names = {EXPERIMENT: EXPERIMENT, **{c: c for c in counts}, GROUP: GROUP, **settings,
             **{r: h for r, h in SHOWN_RESULTS.items() if r in frame or r in RESULTS}, RAN_ON: RAN_ON}
    table = frame.reindex(columns=list(names))  # an old commit may lack a setting: a blank column
    return table.rename(columns=names)


def comparison(experiments: list[Experiment], grouped: bool = False) -> tuple[pd.DataFrame, int]:
    """The table to show: one row per run with a test accuracy (per seed group with `grouped`), best first; and how
    many experiments had no results (queued, running or failed experiments, commits from before the pipeline)."""
    runs, params, without = compare_runs(experiments)
    return shown(seed_groups(runs) if grouped else runs, varied(runs, params)), without


def render(frame: pd.DataFrame, width: int = WIDTH) -> str:
    """The table as text of at most `width` columns. Where it is too wide, low-value columns go first, then long
    experiment names are cut, then varied parameters are left out (named under the table)."""
    columns = {column: [cell(column, v) for v in frame[column]] for column in frame.columns}
    constant = [c for c in reversed(SETTINGS.values()) if c in columns and len(set(columns[c])) == 1]  # arch last
    droppable = [c for name in DROPPABLE for c in (constant if name == "constant" else [name])]
    return fit_table(columns, width, name_column=EXPERIMENT, droppable=droppable, kept=KEPT)


def cell(column: str, value) -> str:
    """One value as shown: rounded by the column's format, numbers of varied parameters to 3 significant digits
    (--csv keeps them exact)."""
    if value is None or (not isinstance(value, (list, tuple)) and pd.isna(value)):
        return "-"
    if column in FORMATS:
        return FORMATS[column].format(value)
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def point_labels(frame: pd.DataFrame) -> pd.Series:
    """Each row's label in the figure: the settings that tell the rows apart ("lr=0.8"), shown as the table shows
    them; a group's n; the experiment's name where no setting differs. Seeds and results are left out."""
    ignored = {EXPERIMENT, GROUP, N, "seed", RAN_ON, *SHOWN_RESULTS.values()}
    telling = [c for c in frame.columns if c not in ignored and frame[c].astype(str).nunique() > 1]

    def label(row: pd.Series) -> str:
        settings = " ".join(f"{c}={cell(c, row[c])}" for c in telling) or row[EXPERIMENT]
        n = row.get(N)
        return settings + (f" (n={int(n)})" if pd.notna(n) and n > 1 else "")

    return frame.apply(label, axis=1)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m resnet_cifar.tools.compare", description=__doc__.split("\n\n")[0],
        epilog=HEADERS_HELP)
    parser.add_argument("-A", "--all", action="store_true",
                        help="experiments of every commit of the repository (dvc exp show -A), not only HEAD's")
    parser.add_argument("--runs", action="store_true",
                        help="one row per run, with its group number, instead of one row per group")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="also write the table, unrounded, to FILE")
    parser.add_argument("--plot", type=Path, metavar="FILE",
                        help="also draw test accuracy (± 1 standard error) against training seconds, one point "
                             "per row, the Pareto front marked, as a PNG")
    parser.add_argument("--versus", nargs=2, metavar=("EXP_A", "EXP_B"),
                        help="instead of the table, a paired test of two experiments (names as `dvc exp show` "
                             "lists them, git revs or 'workspace') on the same test images: both accuracies, "
                             "A - B with a 95%% interval and McNemar's exact p-value")
    return parser.parse_args(argv)


@report_user_errors
def main() -> None:
    args = parse_args(sys.argv[1:])
    if args.versus:
        from ..experiments.paired import compare_pair  # scipy's statistics: only when asked for

        print(compare_pair(*args.versus))
        return
    with ExperimentStore() as store:
        experiments = store.experiments(all_commits=args.all)
    frame, without = comparison(experiments, grouped=not args.runs)
    if frame.empty:
        raise UserError("no experiment has test results yet: run `dvc repro` or `dvc exp run` first")
    print(render(frame))
    if without:
        print(f"(and {without} without test results: queued, running or failed experiments, commits before any; "
              "see `dvc exp show`)")
    if args.csv:
        write_csv(frame, args.csv)
    if args.plot:
        plot_accuracy_vs_time(frame.assign(label=point_labels(frame)), args.plot)


if __name__ == "__main__":
    main()
