"""Training history as the train stage writes it: the per-epoch metrics DVCLive logs, an atomically written summary,
and the training curve within epochs."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from dvclive import Live

from ..atomic import write_json, write_text

# What the train stage logs each epoch. DVCLive writes each to <live dir>/plots/metrics/<name>.tsv, which
# analysis/history.py reads back as columns train_loss, train_acc, ...
METRICS = ("train/loss", "train/acc", "val/loss", "val/acc", "lr")


class AtomicLive(Live):
    """DVCLive whose summary (`metrics.json`, the file `dvc metrics` and `dvc exp show` read) is written atomically,
    so a kill mid-write leaves the previous summary rather than a torn file. The last learning rate stays out of the
    summary (it is plotted per epoch, and as a function of the params it would only widen `dvc exp show`)."""

    def make_summary(self) -> None:
        self.summary.pop("lr", None)
        self.summary["step"] = self.step
        write_json(self.metrics_file, self.summary)


# The training curve within epochs (EpochResult.progress), beside DVCLive's per-epoch files; a run of one epoch
# still draws a curve from it. Columns: epoch (fractional), loss, acc, lr.
PROGRESS_COLUMNS = ("epoch", "loss", "acc", "lr")


def write_progress(path: Path, points: Iterable[tuple[float, ...]]) -> None:
    rows = ["\t".join(f"{v:.6g}" for v in point) for point in points]
    write_text(path, "\n".join(["\t".join(PROGRESS_COLUMNS), *rows]) + "\n")
