"""Per-epoch training history as DVCLive logs it: the metric names, and reading them back as one table."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from dvclive import Live

from .atomic import write_json
from .errors import UserError

# DVCLive metric name -> history column. DVCLive writes each to <live dir>/plots/metrics/<name>.tsv.
METRICS = {
    "train/loss": "train_loss",
    "train/acc": "train_acc",
    "val/loss": "val_loss",
    "val/acc": "val_acc",
    "lr": "lr",
}


def read_history(live_dir: str | Path) -> pd.DataFrame:
    """One row per epoch: epoch, train_loss, train_acc, val_loss, val_acc, lr."""
    table = None
    for name, column in METRICS.items():
        path = Path(live_dir) / "plots" / "metrics" / f"{name}.tsv"
        try:
            frame = pd.read_csv(path, sep="\t")
        except FileNotFoundError:
            raise UserError(f"training history {path} not found; run `dvc repro train`") from None
        frame = frame[["step", frame.columns[-1]]].rename(columns={"step": "epoch", frame.columns[-1]: column})
        table = frame if table is None else table.merge(frame, on="epoch")
    return table


class AtomicLive(Live):
    """DVCLive whose summary (`metrics.json`, the file `dvc metrics` and `dvc exp show` read) is written atomically,
    so a kill mid-write leaves the previous summary rather than a torn file. The last learning rate stays out of the
    summary (it is plotted per epoch, and as a function of the params it would only widen `dvc exp show`)."""

    def make_summary(self) -> None:
        self.summary.pop("lr", None)
        self.summary["step"] = self.step
        write_json(self.metrics_file, self.summary)
