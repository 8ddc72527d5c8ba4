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
from the parameters and the seed. Parameters are told from metrics by params.yaml's schema
(resnet_cifar.config.param_keys): the CSV marks neither.

The table is DVC's own: `dvc exp show --csv`, the flat table that `dvc.api.exp_show` also returns (as dicts), but
with `-A`, which the API lacks.
"""
from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd

from ..atomic import atomic_path
from ..config import param_keys
from ..errors import UserError, report_user_errors
from ..experiments.uncertainty import binomial_se, group_labels, mean_sd_se, shared_value
from ..figures.experiments import plot_accuracy_vs_time

# DVC's column -> the header shown. The name comes first, then the settings, then the results.
COLUMNS = {
    "model.arch": "arch",
    "train.epochs": "ep",
    "train.lr": "lr",
    "train.batch_size": "batch",
    "data.train_size": "n_train",
    "accuracy": "acc",
    "loss": "loss",
    "corrupted_acc": "c_acc",
    "best.val_acc": "best_val",
    "time.train_seconds": "train_s",
    "time.images_per_sec": "img/s",
}
# The run's provenance (metrics/train/metrics.json, `run`), shown as one short column.
PROVENANCE = ("run.device_name", "run.processes", "run.precision", "run.torch")
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
RESULTS = ("acc", "loss", "c_acc", "best_val", "train_s", "img/s")  # averaged over a group's members
# Left out first when the table is too wide, in this order: results few compare on, then the fixed settings where
# every row has the same value (`constant` below), then best_val.
DROPPABLE = ("img/s", "loss", "c_acc", "constant", "best_val")
KEPT = ("experiment", "group", "n", "acc", "±", "sd", "train_s", "ran_on", *COLUMNS.values())  # never left out
UNFINISHED = ("Queued", "Running", "Failed")  # DVC's states of an experiment whose row repeats its baseline's results
FORMATS = {
    "n": "{:.0f}", "group": "{:.0f}", "±": "{:.4f}", "sd": "{:.4f}",
    "ep": "{:.0f}", "lr": "{:.3g}", "batch": "{:.0f}", "n_train": "{:.0f}", "acc": "{:.4f}", "loss": "{:.4f}",
    "c_acc": "{:.4f}", "best_val": "{:.4f}", "train_s": "{:.1f}", "img/s": "{:.1f}",
}


def exp_show(all_commits: bool = False) -> pd.DataFrame:
    """DVC's experiments table, one row per revision, DVC's column names."""
    command = [sys.executable, "-m", "dvc", "exp", "show", "--csv", *(["-A"] if all_commits else [])]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines() or ["no output"]
        raise UserError(f"`dvc exp show` failed: {lines[-1]}")
    return pd.read_csv(io.StringIO(result.stdout)) if result.stdout.strip() else pd.DataFrame()


# Words that name the maker or the kind of part rather than the part itself.
_NOISE = re.compile(r"\((R|TM|tm|r)\)|\bNVIDIA\b|\bIntel\b|\bAMD\b|\bGeForce\b|\bCPU\b|\bProcessor\b"
                    r"|\b\d+-Core\b|@.*$")


def short_device_name(name: str) -> str:
    """A device name cut to what tells parts apart: 'NVIDIA H200' -> 'H200', 'Intel(R) Xeon(R) Platinum 8375C CPU
    @ 2.90GHz' -> 'Xeon Platinum 8375C'."""
    return " ".join(_NOISE.sub(" ", name).split()) or name.strip()


def ran_on(row: pd.Series) -> str | None:
    """'H200 bf16 2.14.1', '2x H200 bf16 2.14.1': what trained the row, short enough for one screen."""
    name, processes, precision, torch_version = (row[c] for c in PROVENANCE)
    if pd.isna(name) or name == "!":
        return None
    count = f"{int(float(processes))}x " if not pd.isna(processes) and float(processes) > 1 else ""
    version = str(torch_version).split("+")[0]  # the local build tag (+cu130, +cpu) says less than the version
    return f"{count}{short_device_name(str(name))} {precision} {version}"


def param_columns(table: pd.DataFrame) -> list[str]:
    """DVC's columns that are params.yaml keys. `dvc exp show --csv` marks nothing, and metrics share the
    sections' names (train.loss), so a key counts only if params.yaml's schema has it."""
    keys = param_keys()
    return [c for c in table.columns if c in keys]


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


def runs_with_results(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """DVC's rows with a test accuracy (the workspace dropped where it repeats another row) as short-header
    results, the same rows of DVC's table, and how many rows had no results."""
    table = table.copy()
    for column in ("Experiment", "rev", *COLUMNS, *PROVENANCE):  # an old commit's table may lack some
        if column not in table:
            table[column] = pd.NA
    named = table["Experiment"].notna() & (table["Experiment"].astype(str) != "")
    frame = table[list(COLUMNS)].rename(columns=COLUMNS)
    # DVC writes "!" for a value it could not read (in a commit's broken or missing file, say): not a number.
    numbers = [header for header in frame.columns if header != "arch"]
    frame[numbers] = frame[numbers].apply(pd.to_numeric, errors="coerce")
    frame.insert(0, "experiment", table["Experiment"].where(named, table["rev"]).astype(str))
    frame["ran_on"] = [ran_on(row) for _, row in table.iterrows()]
    state = table["State"] if "State" in table else pd.Series(pd.NA, index=table.index)
    with_results = frame["acc"].notna() & ~state.isin(UNFINISHED)
    frame, workspace = frame[with_results], table.loc[with_results, "rev"] == "workspace"
    # The workspace repeats its baseline's row (or the last experiment's) until something is run and not saved.
    results = frame.drop(columns="experiment")
    others = [row for _, row in results[~workspace].iterrows()]
    repeats = [i for i, row in results[workspace].iterrows() if any(row.equals(o) for o in others)]
    frame = frame.drop(index=repeats)
    return frame, table.loc[frame.index], int((~with_results).sum())


def comparison(table: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """One row per run with a test accuracy, best first: its group, the settings, every other parameter that varies
    between the rows, accuracy ± its binomial standard error, the other results; and how many rows had no results
    (queued, running or failed experiments, commits from before the pipeline)."""
    frame, rows, without = runs_with_results(table)
    params = param_columns(rows)
    varied = [p for p in params if p not in COLUMNS and rows[p].astype(str).nunique() > 1]
    headers = short_headers(varied, taken=set(frame.columns) | {"group", "n", "±", "sd"})
    at = list(frame.columns).index("acc")
    for offset, key in enumerate(varied):
        frame.insert(at + offset, headers[key], rows[key])
    test_images = pd.to_numeric(rows.get("data.test_size", pd.Series(pd.NA, index=rows.index)), errors="coerce")
    frame.insert(list(frame.columns).index("acc") + 1, "±",
                 [binomial_se(a, n) for a, n in zip(frame["acc"], test_images)])
    labels = group_labels(rows, params)
    mean = frame["acc"].groupby(labels).transform("mean")
    # Groups numbered by mean accuracy, best first; each group's runs follow it, best first.
    order = pd.DataFrame({"mean": mean, "label": labels, "acc": frame["acc"]}).sort_values(
        ["mean", "label", "acc"], ascending=[False, True, False], kind="stable")
    frame.insert(1, "group", pd.Series(pd.factorize(order["label"])[0] + 1, index=order.index))
    frame = frame.loc[order.index]
    return frame.reset_index(drop=True), without


def grouped(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per group of `comparison`'s runs: n, the settings the members share ('-' where they differ, as a
    seed), the mean test accuracy ± its standard error, the sd over seeds, the other results' means. A group of
    one keeps its run's binomial standard error."""
    rows = []
    for _, members in runs.groupby("group", sort=True):
        row = {column: shared_value(members[column]) for column in runs.columns}
        row["experiment"] = members["experiment"].iloc[0]
        n, mean, sd, se = mean_sd_se(members["acc"])
        row.update(n=n, acc=mean, sd=sd)
        row["±"] = se if n > 1 else members["±"].iloc[0]
        for column in RESULTS[1:]:
            row[column] = pd.to_numeric(members[column], errors="coerce").mean()
        rows.append(row)
    columns = list(runs.columns)
    columns.insert(columns.index("experiment") + 1, "n")
    columns.insert(columns.index("±") + 1, "sd")
    return pd.DataFrame(rows, columns=columns)


def render(frame: pd.DataFrame, width: int = WIDTH) -> str:
    """The table as text of at most `width` columns, names left-aligned and numbers right-aligned. Where it is too
    wide, low-value columns go first, then long experiment names are cut, then varied parameters are left out
    (named under the table)."""
    columns = {column: [cell(column, v) for v in frame[column]] for column in frame.columns}
    widths = {column: max(map(len, [str(column), *cells])) for column, cells in columns.items()}

    def excess() -> int:
        return sum(widths.values()) + 2 * (len(widths) - 1) - width

    settings = [c for c in COLUMNS.values() if c in columns and c not in RESULTS]
    constant = [c for c in reversed(settings) if len(set(columns[c])) == 1]  # arch, the most telling, last
    for column in [c for name in DROPPABLE for c in (constant if name == "constant" else [name])]:
        if excess() > 0 and column in widths:
            del columns[column], widths[column]
    if excess() > 0:
        keep = max(len("experiment"), widths["experiment"] - excess())
        columns["experiment"] = [n if len(n) <= keep else n[:keep - 1] + "~" for n in columns["experiment"]]
        widths["experiment"] = keep
    left_out = []
    for column in [c for c in reversed(list(columns)) if c not in KEPT]:
        if excess() > 0:
            left_out.insert(0, column)
            del columns[column], widths[column]

    def line(cells: list[str]) -> str:
        return "  ".join(text.ljust(widths[c]) if c == "experiment" else text.rjust(widths[c])
                         for c, text in zip(columns, cells)).rstrip()

    lines = [line(list(columns)), *(line(list(row)) for row in zip(*columns.values()))]
    if left_out:
        lines += textwrap.wrap("(not shown, too wide: " + ", ".join(left_out) + ")", width)
    return "\n".join(lines)


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
    ignored = {"experiment", "group", "n", "±", "sd", "seed", "ran_on", *RESULTS}
    telling = [c for c in frame.columns if c not in ignored and frame[c].astype(str).nunique() > 1]

    def label(row: pd.Series) -> str:
        settings = " ".join(f"{c}={cell(c, row[c])}" for c in telling) or row["experiment"]
        n = row.get("n")
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
        from ..experiments.paired import compare_pair  # dvc's Repo loads slowly: only when asked for

        print(compare_pair(*args.versus))
        return
    runs, without = comparison(exp_show(args.all))
    if runs.empty:
        raise UserError("no experiment has test results yet: run `dvc repro` or `dvc exp run` first")
    frame = runs if args.runs else grouped(runs)
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
