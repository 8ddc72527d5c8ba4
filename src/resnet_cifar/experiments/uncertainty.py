"""How sure a test accuracy is, and which experiments are repeats of one setting over seeds.

Pure statistics on pandas frames; the experiments are read by experiments/store.py and tabled by
experiments/comparison.py.

- One run's accuracy p on n test images has the binomial standard error sqrt(p (1 - p) / n).
- A group is the runs whose parameters differ only in `seed`. Its row holds n (runs), the mean accuracy, the
  standard deviation over seeds (ddof=1) and the standard error of the mean, sd / sqrt(n).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

SEED = "seed"


def binomial_se(accuracy: float, test_images: float) -> float:
    """The standard error of an accuracy measured on `test_images` independent images (nan if unknown)."""
    if pd.isna(accuracy) or pd.isna(test_images) or test_images <= 0:
        return math.nan
    return math.sqrt(accuracy * (1 - accuracy) / test_images)


def group_labels(runs: pd.DataFrame, params: list[str]) -> pd.Series:
    """A label per run, equal for runs whose `params` are equal apart from the seed.

    Only parameters count: a data subset's hash follows from the parameters and the seed, and code hashes are the
    same within one commit's sweep; runs of different code still differ by their commit.
    """
    keys = [p for p in params if p != SEED]
    if not keys:
        return pd.Series(0, index=runs.index)
    as_text = runs[keys].astype(str)
    return pd.Series(pd.factorize(as_text.apply(tuple, axis=1))[0], index=runs.index)


def mean_sd_se(values: pd.Series) -> tuple[int, float, float, float]:
    """n, mean, sample sd (ddof=1) and standard error of the mean of the finite `values`."""
    finite = values.dropna().astype(float)
    n = len(finite)
    if n == 0:
        return 0, math.nan, math.nan, math.nan
    mean = float(finite.mean())
    sd = float(finite.std(ddof=1)) if n > 1 else math.nan
    return n, mean, sd, sd / math.sqrt(n) if n > 1 else math.nan


def shared_value(values: pd.Series):
    """The members' common value, or NA where they differ (a seed, say)."""
    distinct = values.drop_duplicates()
    return distinct.iloc[0] if len(distinct) == 1 else pd.NA


def pareto_front(accuracy: pd.Series, seconds: pd.Series) -> pd.Series:
    """True for each point no other point beats on both: higher accuracy and fewer seconds."""
    acc, sec = accuracy.to_numpy(float), seconds.to_numpy(float)
    beaten = (acc[None, :] > acc[:, None]) & (sec[None, :] < sec[:, None])
    known = ~(np.isnan(acc) | np.isnan(sec))
    return pd.Series(known & ~beaten.any(axis=1), index=accuracy.index)
