"""Per-epoch training history as DVCLive logs it: the metric names and an atomically written summary."""
from __future__ import annotations

from dvclive import Live

from ..atomic import write_json

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
