"""A running training's epochs, told to whoever watches it: the search, which decides from them whether to stop
(prune) a trial.

The watcher names a file in the environment variable FEED_VARIABLE; the train stage appends one JSON line per
epoch to it: `{"epoch": 2, "epochs": 4, "val_acc": 0.5312}`. An environment variable, not a parameter: it changes
no result and no DVC cache key, and reaches the stage through `dvc exp run --temp`, whose temporary copy of the
project a path inside the project would not name. Without the variable nothing is written.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

FEED_VARIABLE = "RESNET_CIFAR_EPOCH_FEED"


@dataclass(frozen=True)
class EpochReport:
    epoch: int  # 1-based
    epochs: int  # the run's total
    val_acc: float


def feed_path() -> Path | None:
    """The file the watcher named, if one did."""
    named = os.environ.get(FEED_VARIABLE)
    return Path(named) if named else None


def tell_epoch(report: EpochReport) -> None:
    """Append the epoch's line to the watcher's file, if there is one: one write of a whole line, so a reader sees
    each line whole or not at all."""
    path = feed_path()
    if path is None:
        return
    line = json.dumps({"epoch": report.epoch, "epochs": report.epochs, "val_acc": report.val_acc}) + "\n"
    with open(path, "a") as feed:
        feed.write(line)


def read_epochs(path: Path) -> list[EpochReport]:
    """The epochs told so far, in order, each once (a resumed run tells its earlier epochs again: the last telling
    counts); a line still being written, or one that is not a report, is skipped."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return []
    reports: dict[int, EpochReport] = {}
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n"):
            continue
        try:
            raw = json.loads(line)
            report = EpochReport(int(raw["epoch"]), int(raw["epochs"]), float(raw["val_acc"]))
        except (ValueError, KeyError, TypeError):
            continue
        reports[report.epoch] = report
    return [reports[epoch] for epoch in sorted(reports)]
