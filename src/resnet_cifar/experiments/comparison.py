"""Experiments as a table of runs and of seed groups, each accuracy with how sure it is.

Columns are named for what they hold: "experiment", each params.yaml key ("train.lr"), each metric
("accuracy", "best.val_acc"), and the statistics below. The experiments come from the store
(experiments/store.py); showing the tables is the compare command's job (tools/compare.py).
"""
from __future__ import annotations

import pandas as pd

from ..engine.provenance import ran_on
from .store import Experiment, number
from .uncertainty import binomial_se, group_labels, mean_sd_se, shared_value

EXPERIMENT, GROUP, N, RAN_ON = "experiment", "group", "n", "ran_on"
ACCURACY = "accuracy"  # metrics/evaluate.json: on the test subset, best checkpoint
ACCURACY_SE = "accuracy_se"  # one run: binomial on the test images; a group: the standard error of its mean
ACCURACY_SD = "accuracy_sd"  # a group's sd over seeds
# The results each row shows, averaged over a group's members; the test accuracy first.
RESULTS = (ACCURACY, "loss", "corrupted_acc", "best.val_acc", "time.train_seconds", "time.images_per_sec")
TEST_IMAGES = "data.test_size"
RUN = "run."  # the provenance's prefix in the training metrics


def runs_table(experiments: list[Experiment]) -> tuple[pd.DataFrame, list[str], int]:
    """One row per finished experiment with a test accuracy (experiment, its params, RESULTS, ran_on); the param
    columns; and how many experiments had no results (queued, running or failed, commits before the pipeline)."""
    with_results = [e for e in experiments if e.finished and number(e.metrics.get(ACCURACY)) is not None]
    params = list(dict.fromkeys(key for e in with_results for key in e.params))
    rows = [{EXPERIMENT: e.name, **{p: e.params.get(p) for p in params},
             **{r: number(e.metrics.get(r)) for r in RESULTS},
             RAN_ON: ran_on({k.removeprefix(RUN): v for k, v in e.metrics.items() if k.startswith(RUN)})}
            for e in with_results]
    frame = pd.DataFrame(rows, columns=[EXPERIMENT, *params, *RESULTS, RAN_ON])
    frame[list(RESULTS)] = frame[list(RESULTS)].astype(float)
    return frame, params, len(experiments) - len(with_results)


def compare_runs(experiments: list[Experiment]) -> tuple[pd.DataFrame, list[str], int]:
    """`runs_table` with each run's binomial standard error on its test images and its group's number, best group
    first and, within a group, its best run first."""
    runs, params, without = runs_table(experiments)
    test_images = pd.to_numeric(runs[TEST_IMAGES], errors="coerce") if TEST_IMAGES in runs else pd.Series(
        float("nan"), index=runs.index)
    runs[ACCURACY_SE] = [binomial_se(a, n) for a, n in zip(runs[ACCURACY], test_images)]
    labels = group_labels(runs, params)
    mean = runs[ACCURACY].groupby(labels).transform("mean")
    order = pd.DataFrame({"mean": mean, "label": labels, "acc": runs[ACCURACY]}).sort_values(
        ["mean", "label", "acc"], ascending=[False, True, False], kind="stable")
    runs[GROUP] = pd.Series(pd.factorize(order["label"])[0] + 1, index=order.index)
    return runs.loc[order.index].reset_index(drop=True), params, without


def varied(runs: pd.DataFrame, params: list[str]) -> list[str]:
    """The params whose value differs between the rows."""
    return [p for p in params if runs[p].astype(str).nunique() > 1]


def seed_groups(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per group of `compare_runs`'s runs: n, the values the members share (NA where they differ, as
    the seed), the mean test accuracy ± its standard error, the sd over seeds, the other results' means. A group of
    one keeps its run's binomial standard error."""
    rows = []
    for _, members in runs.groupby(GROUP, sort=True):
        row = {column: shared_value(members[column]) for column in runs.columns}
        n, mean, sd, se = mean_sd_se(members[ACCURACY])
        row.update({EXPERIMENT: members[EXPERIMENT].iloc[0], N: n, ACCURACY: mean, ACCURACY_SD: sd,
                    ACCURACY_SE: se if n > 1 else members[ACCURACY_SE].iloc[0]})
        row.update({column: members[column].mean() for column in RESULTS[1:]})
        rows.append(row)
    return pd.DataFrame(rows, columns=[*runs.columns, N, ACCURACY_SD])

