"""The training history that the `train` stage logs, read back as tables: per epoch (DVCLive) and within epochs."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import UserError


def read_history(live_dir: str | Path) -> pd.DataFrame:
    """One row per epoch: `epoch`, then one column per logged metric, named after its path (DVCLive writes metric
    `train/loss` to <live_dir>/plots/metrics/train/loss.tsv: column `train_loss`)."""
    metrics_dir = Path(live_dir) / "plots" / "metrics"
    files = sorted(metrics_dir.rglob("*.tsv"))
    if not files:
        raise UserError(f"training history {metrics_dir} not found; run `dvc repro train`")
    table = None
    for path in files:
        column = path.relative_to(metrics_dir).with_suffix("").as_posix().replace("/", "_")
        frame = pd.read_csv(path, sep="\t")
        frame = frame[["step", frame.columns[-1]]].set_axis(["epoch", column], axis=1)
        table = frame if table is None else table.merge(frame, on="epoch")
    return table


def read_progress(live_dir: str | Path) -> pd.DataFrame | None:
    """The training curve within epochs (columns epoch, loss, acc, lr; engine/live.py writes it), or None for a
    run that did not record one."""
    path = Path(live_dir) / "plots" / "progress.tsv"
    return pd.read_csv(path, sep="\t") if path.exists() else None
