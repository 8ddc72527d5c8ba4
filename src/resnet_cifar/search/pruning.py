"""Stopping a hopeless trial early (pruning), from its validation accuracy after each epoch.

While a trial trains, its train stage appends each epoch's validation accuracy to a file the search names
(`epoch_feed`); the search reports each to Optuna (`trial.report(val_acc, epoch)`) and asks the study's pruner
whether to go on. When the pruner says stop, the trial's processes are stopped as on Ctrl-C (its temporary copy
removed, no experiment left) and the trial is recorded PRUNED, with the epoch and the reason. The last epoch is
never pruned: nothing would be saved, and the trial's result would be lost.

The space file's `pruner:` chooses the rule:
- `median` (the default): stop a trial whose best validation accuracy so far is below the median of the complete
  trials' at the same epoch, once STARTUP_TRIALS trials have completed. Chosen as the default because the searches
  run here are small (8 to 30 trials): the median rule compares each trial with every complete one, and its reason
  is one line a reader can check, while Hyperband splits so few trials into brackets and its sampler then learns
  from one bracket's trials only.
- `hyperband`: Optuna's HyperbandPruner (successive halving in brackets, keeping the best third at each rung), for
  long searches with many epochs per trial.
- `none`: every trial runs to its last epoch.
A search whose trials train one epoch is unaffected whichever is chosen.
"""
from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.pruners import BasePruner, HyperbandPruner, MedianPruner, NopPruner

from ..engine.epoch_feed import EpochReport, read_epochs
from .study import complete

PRUNERS = ("median", "hyperband", "none")
DEFAULT_PRUNER = "median"
STARTUP_TRIALS = 3  # complete trials before the median rule prunes any: the median of fewer is a poor yardstick
HYPERBAND_REDUCTION = 3  # successive halving keeps the best 1/3 of a bracket's trials at each rung
MEASURE = "val_acc"


def make_pruner(name: str) -> BasePruner:
    """The Optuna pruner named in the space file (PRUNERS)."""
    if name == "median":
        return MedianPruner(n_startup_trials=STARTUP_TRIALS, n_warmup_steps=0)
    if name == "hyperband":
        return HyperbandPruner(min_resource=1, reduction_factor=HYPERBAND_REDUCTION)
    if name == "none":
        return NopPruner()
    raise ValueError(f"unknown pruner {name!r}")


class Pruned(Exception):
    """The pruner stopped the trial after `epoch` of its `epochs`, for `reason`."""

    def __init__(self, epoch: int, epochs: int, reason: str) -> None:
        super().__init__(f"at epoch {epoch} of {epochs}: {reason}")
        self.epoch, self.epochs, self.reason = epoch, epochs, reason


def complete_values_at(study: optuna.Study, epoch: int) -> list[float]:
    """The complete trials' validation accuracy at `epoch` (those that reported it)."""
    return [t.intermediate_values[epoch] for t in complete(study) if epoch in t.intermediate_values]


def why(study: optuna.Study, rule: str, epoch: int, best_so_far: float) -> str:
    """The pruner's decision at `epoch`, in words."""
    if rule == "median":
        values = complete_values_at(study, epoch)
        return (f"best {MEASURE} so far {best_so_far:.4f}, below the median {statistics.median(values):.4f} of "
                f"{len(values)} complete trials at epoch {epoch}")
    return (f"best {MEASURE} so far {best_so_far:.4f}, outside the best 1/{HYPERBAND_REDUCTION} of its Hyperband "
            f"bracket at epoch {epoch}")


@dataclass
class EpochWatch:
    """Called every second while a trial runs (as `run_trial`'s `watch`): reports each epoch the train stage told
    in `feed` to Optuna and raises Pruned when the study's pruner says stop; `also` is called first (the search's
    own check that the study's database is still there)."""

    trial: optuna.Trial
    feed: Path
    rule: str
    also: Callable[[], None] = lambda: None
    told: list[EpochReport] = field(default_factory=list)

    def __call__(self) -> None:
        self.also()
        self.report(prune=self.rule != "none")

    def report(self, prune: bool = False) -> None:
        for epoch in read_epochs(self.feed)[len(self.told):]:
            self.told.append(epoch)
            self.trial.report(epoch.val_acc, epoch.epoch)
            if prune and epoch.epoch < epoch.epochs and self.trial.should_prune():
                best = max(e.val_acc for e in self.told)
                raise Pruned(epoch.epoch, epoch.epochs, why(self.trial.study, self.rule, epoch.epoch, best))

    def catch_up(self, curve: Callable[[], dict[int, float]]) -> None:
        """Report the epochs told after the last call (a finished trial's last ones), pruning none; if none was
        ever told (DVC's run-cache restored the trial instead of training it), the finished run's `curve()`."""
        self.report(prune=False)
        if not self.told:
            for epoch, val_acc in sorted(curve().items()):
                self.trial.report(val_acc, epoch)
