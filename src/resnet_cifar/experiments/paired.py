"""A paired comparison of two experiments scored on the same test images (`compare --versus EXP_A EXP_B`).

Both experiments' per-image predictions and dvc.lock are read at their revisions through the experiment store
(nothing is checked out), and the images on which exactly one of them is right decide: McNemar's exact test on
those discordant pairs, and a Wald interval for the difference of two paired proportions.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from scipy.stats import binomtest, norm

from .. import paths
from ..errors import UserError
from .store import ExperimentStore

# As dvc.lock and dvc.api spell them: posix paths relative to the project root.
PREDICTIONS = paths.PREDICTIONS.as_posix()
TEST_SUBSET = paths.TEST_SUBSET.as_posix()
LEVEL = 0.05  # the significance level of the verdict; the interval is its matching 1 - LEVEL = 95%


@dataclass(frozen=True)
class Scored:
    """One experiment's predictions on the test subset: which subset (its md5 in dvc.lock) and the arrays."""
    name: str
    subset_md5: str
    labels: np.ndarray
    predicted: np.ndarray

    @property
    def correct(self) -> np.ndarray:
        return self.predicted == self.labels


@dataclass(frozen=True)
class Paired:
    """The outcome of a paired comparison: b = images A gets right and B wrong, c = the reverse, n = all images."""
    b: int
    c: int
    n: int
    acc_a: float
    acc_b: float


def mcnemar_p(b: int, c: int) -> float:
    """McNemar's exact two-sided p-value: under no difference each discordant pair is A's with probability 1/2."""
    return 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5).pvalue)


def difference_interval(b: int, c: int, n: int, level: float = LEVEL) -> tuple[float, float, float]:
    """The accuracy difference A - B = (b - c) / n and its Wald interval for paired proportions,
    d +- z * sqrt(((b + c) / n - d^2) / n), clipped to [-1, 1] (the difference's possible range)."""
    d = (b - c) / n
    half = norm.ppf(1 - level / 2) * math.sqrt(max((b + c) / n - d * d, 0.0) / n)
    return d, max(d - half, -1.0), min(d + half, 1.0)


def paired_counts(a: Scored, b: Scored) -> Paired:
    """The discordant counts of two experiments, refused unless both scored the same test images."""
    if a.subset_md5 != b.subset_md5:
        raise UserError(
            f"{a.name} and {b.name} were scored on different test subsets ({TEST_SUBSET} md5 {a.subset_md5} vs "
            f"{b.subset_md5}): `seed` and the data params draw the subsets, so only experiments that share them "
            "can be paired")
    if a.labels.shape != b.labels.shape or not np.array_equal(a.labels, b.labels):
        raise UserError(f"{a.name} and {b.name} have different test labels in {PREDICTIONS}: not the same images")
    right_a, right_b = a.correct, b.correct
    return Paired(b=int(np.sum(right_a & ~right_b)), c=int(np.sum(~right_a & right_b)), n=len(a.labels),
                  acc_a=float(right_a.mean()), acc_b=float(right_b.mean()))


def verdict(name_a: str, name_b: str, paired: Paired) -> str:
    """In words: whether the difference is within noise at the LEVEL, and which side wins if not."""
    p = mcnemar_p(paired.b, paired.c)
    if p >= LEVEL:
        return f"within noise: p = {p:.3g}"
    winner = name_a if paired.b > paired.c else name_b
    return f"{winner} better beyond noise: p = {p:.3g}"


def report(name_a: str, name_b: str, paired: Paired) -> str:
    """A few lines: both accuracies, A - B with its 95% interval, the discordant counts and the verdict."""
    d, low, high = difference_interval(paired.b, paired.c, paired.n)
    width = max(len(name_a), len(name_b))
    confidence = round(100 * (1 - LEVEL))
    return "\n".join([
        f"A {name_a:<{width}}  accuracy {paired.acc_a:.4f}",
        f"B {name_b:<{width}}  accuracy {paired.acc_b:.4f}   (the same {paired.n} test images)",
        f"A - B = {d:+.4f}, {confidence}% interval [{low:+.4f}, {high:+.4f}] (Wald, paired proportions)",
        f"discordant: {paired.b} right only in A, {paired.c} right only in B (McNemar's exact test)",
        verdict(name_a, name_b, paired),
    ])


def subset_md5(lock_text: bytes, name: str) -> str:
    """The md5 of the test subset that the evaluate stage read, as dvc.lock records it."""
    stages = (yaml.safe_load(lock_text) or {}).get("stages", {})
    deps = stages.get("evaluate", {}).get("deps", [])
    md5s = [dep.get("md5") for dep in deps if dep.get("path") == TEST_SUBSET]
    if not md5s or not md5s[0]:
        raise UserError(f"{name}'s dvc.lock records no evaluate stage on {TEST_SUBSET}: run `evaluate` first")
    return md5s[0]


def load_scored(store: ExperimentStore, name: str) -> Scored:
    """One experiment's predictions and test-subset identity, read at its revision without a checkout."""
    md5 = subset_md5(store.read_bytes(name, "dvc.lock"), name)
    with np.load(io.BytesIO(store.read_bytes(name, PREDICTIONS))) as arrays:
        return Scored(name=name, subset_md5=md5, labels=arrays["labels"], predicted=arrays["predicted"])


def compare_pair(name_a: str, name_b: str, root: Path | None = None) -> str:
    """The paired comparison of two experiments of the project at `root` (by default the one around the current
    folder), as the lines to print."""
    with ExperimentStore(root) as store:
        a, b = load_scored(store, name_a), load_scored(store, name_b)
    return report(name_a, name_b, paired_counts(a, b))
