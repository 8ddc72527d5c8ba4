"""Experiments compared on one screen, the best test accuracy first.

`python -m resnet_cifar.tools.compare [-A] [--csv FILE]` prints one row per experiment with results (the baseline
commit's, the workspace's if they differ, each experiment's): its name, the main settings, test accuracy and loss,
mean accuracy under corruption, best validation accuracy, training time and images/s, and what ran it (device,
precision, torch), in at most 120 columns. `-A` takes the experiments of every commit, as `dvc exp show -A` does.

The table is DVC's own: `dvc exp show --csv`, the flat table that `dvc.api.exp_show` also returns (as dicts), but
with `-A`, which the API lacks.
"""
from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

from ..atomic import atomic_path
from ..errors import UserError, report_user_errors

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
                "ran_on: [processes x] device, precision, torch version")
WIDTH = 120
FORMATS = {
    "ep": "{:.0f}", "lr": "{:g}", "batch": "{:.0f}", "n_train": "{:.0f}", "acc": "{:.4f}", "loss": "{:.4f}",
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


def comparison(table: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The rows with a test accuracy under short headers, best first; and how many rows had none (queued, running
    or failed experiments, commits from before the pipeline)."""
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
    with_results = frame["acc"].notna()
    frame, workspace = frame[with_results], table.loc[with_results, "rev"] == "workspace"
    # The workspace repeats its baseline's row (or the last experiment's) until something is run and not saved.
    results = frame.drop(columns="experiment")
    others = [row for _, row in results[~workspace].iterrows()]
    repeats = [i for i, row in results[workspace].iterrows() if any(row.equals(o) for o in others)]
    frame = frame.drop(index=repeats).sort_values("acc", ascending=False, kind="stable")
    return frame.reset_index(drop=True), int((~with_results).sum())


def render(frame: pd.DataFrame, width: int = WIDTH) -> str:
    """The table as text of at most `width` columns, names left-aligned and numbers right-aligned; long
    experiment names are cut to fit."""
    def cell(column: str, value) -> str:
        if pd.isna(value):
            return "-"
        return FORMATS[column].format(value) if column in FORMATS else str(value)

    columns = {column: [cell(column, v) for v in frame[column]] for column in frame.columns}
    widths = {column: max(map(len, [column, *cells])) for column, cells in columns.items()}
    excess = sum(widths.values()) + 2 * (len(widths) - 1) - width
    if excess > 0:
        keep = max(len("experiment"), widths["experiment"] - excess)
        columns["experiment"] = [n if len(n) <= keep else n[:keep - 1] + "~" for n in columns["experiment"]]
        widths["experiment"] = keep

    def line(cells: list[str]) -> str:
        return "  ".join(text.ljust(widths[c]) if c == "experiment" else text.rjust(widths[c])
                         for c, text in zip(columns, cells)).rstrip()

    rows = zip(*columns.values())
    return "\n".join([line(list(columns)), *(line(list(row)) for row in rows)])


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m resnet_cifar.tools.compare", description=__doc__.split("\n\n")[0], epilog=HEADERS_HELP)
    parser.add_argument("-A", "--all", action="store_true",
                        help="experiments of every commit of the repository (dvc exp show -A), not only HEAD's")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="also write the table, unrounded, to FILE")
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
    frame, without = comparison(exp_show(args.all))
    if frame.empty:
        raise UserError("no experiment has test results yet: run `dvc repro` or `dvc exp run` first")
    print(render(frame))
    if without:
        print(f"(and {without} without test results: queued or failed experiments, commits before any; "
              "see `dvc exp show`)")
    if args.csv:
        write_csv(frame, args.csv)


if __name__ == "__main__":
    main()
