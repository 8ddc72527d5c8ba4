"""The search: `run_search` opens the study, runs the loop, then prints the summary and draws the figures. The loop
draws each trial from the study, runs it as a DVC experiment and reports it on one line; it stops once the study
holds the total asked for, or after too many failures of this process."""
from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from ..config import load_params
from ..errors import UserError
from .pruning import DEFAULT_PRUNER, EpochWatch, Pruned, make_pruner
from .report import draw_figures, summary
from .space import Dimension, load_pruner, load_space, suggest
from .study import (
    EXPERIMENT,
    FAILURE,
    PRUNED,
    RETRY_OF,
    STUDY_FOLDER,
    TEST_ACCURACY,
    StorageLost,
    claim,
    database_loss_as_user_error,
    default_storage,
    fail_orphans,
    open_study,
    repeated,
    storage_lost,
    taken,
)
from .trial import OBJECTIVE_NAME, TARGET, Outcome, experiment_name, read_curve, run_trial


class TrialFailed(Exception):
    """A trial's experiment failed or gave no objective: the trial is recorded FAIL and the search goes on."""


def format_params(params: dict[str, Any]) -> str:
    return " ".join(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
                    for key, value in params.items())


@dataclass
class Search:
    study: Study
    space: dict[str, Dimension]
    total: int
    max_failures: int
    logs: Path = STUDY_FOLDER / "logs"
    target: str = TARGET  # the last stage each trial runs
    pruner: str = DEFAULT_PRUNER  # the rule of the study's pruner (search/pruning.py), named in its messages
    feeds: Path = STUDY_FOLDER / "epochs"  # where each running trial's epochs are told (epoch_feed)
    failures: int = field(default=0, init=False)
    started: dict[int, float] = field(default_factory=dict, init=False)

    def objective(self, trial: optuna.Trial) -> float:
        claim(trial)
        try:
            params = suggest(trial, self.space)
        except ValueError as err:  # Optuna: a key drawn from a range in the study's trials, from choices here
            reason = (f"the space file's kinds of dimension differ from those the study {self.study.study_name} "
                      f"began with ({err}): give this space a study of its own (--study NAME)")
            trial.set_user_attr(FAILURE, reason)
            raise UserError(reason) from None
        name = experiment_name(self.study.study_name, trial.number)
        trial.set_user_attr(EXPERIMENT, name)
        self.started[trial.number] = time.monotonic()
        again = repeated(trial)
        print(f"trial {trial.number} ({name}) running{'' if again is None else f' (trial {again} again)'}: "
              f"{format_params(params)}", flush=True)
        try:
            outcome = self.run_watched(trial, name, params)
        except Pruned as stop:  # the trial's processes are stopped and its temporary copy removed
            trial.set_user_attr(PRUNED, str(stop))
            raise optuna.TrialPruned(str(stop)) from None
        except KeyboardInterrupt:  # Ctrl-C, SIGTERM or SIGHUP: the next search runs these parameters again
            trial.set_user_attr(FAILURE, "interrupted")
            self.study.enqueue_trial(params, user_attrs={RETRY_OF: trial.number})
            raise
        if outcome.failure:
            trial.set_user_attr(FAILURE, outcome.failure)
            raise TrialFailed(outcome.failure)
        trial.set_user_attr(TEST_ACCURACY, outcome.test_accuracy)
        return outcome.value

    def run_watched(self, trial: optuna.Trial, name: str, params: dict[str, Any]) -> Outcome:
        """Run the trial's experiment, each epoch it tells reported to the pruner, which may stop it (Pruned);
        every epoch of a complete trial is reported, for the trials after it to be weighed against."""
        self.feeds.mkdir(parents=True, exist_ok=True)
        watch = EpochWatch(trial, self.feeds / f"{name}.jsonl", self.pruner, self.check_storage)
        watch.feed.unlink(missing_ok=True)
        try:
            outcome = run_trial(name, params, self.logs / f"{name}.log", watch, self.target, watch.feed)
            if not outcome.failure:
                watch.catch_up(lambda: read_curve(name))
            return outcome
        finally:
            watch.feed.unlink(missing_ok=True)

    def check_storage(self) -> None:
        """Called while a trial runs: a study database its heartbeat lost stops the trial, whose result could not
        be recorded (the trial stays running in the study, and the next search runs it again)."""
        lost = storage_lost(self.study)
        if lost is not None:
            raise StorageLost from lost

    def report(self, study: Study, trial: FrozenTrial) -> None:
        """The trial's line; then stop when the study is full or this process failed too often."""
        seconds = time.monotonic() - self.started.get(trial.number, time.monotonic())
        if trial.state == TrialState.COMPLETE:
            result = f"{OBJECTIVE_NAME} {trial.value:.4f}"
        elif trial.state == TrialState.PRUNED:
            result = f"pruned {trial.user_attrs.get(PRUNED, '')}"
        else:
            result = f"{trial.state.name.lower()}: {trial.user_attrs.get(FAILURE, 'no reason recorded')}"
            self.failures += trial.state == TrialState.FAIL
        print(f"trial {trial.number} {result} ({seconds:.0f} s)", flush=True)
        if taken(study) >= self.total:
            study.stop()
        elif self.failures >= self.max_failures:
            study.stop()

    def run(self) -> None:
        if taken(self.study) >= self.total:
            return
        self.study.optimize(self.objective, catch=(TrialFailed,), callbacks=[self.report])


STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)  # a kill, a closed terminal: the trial runs in a session of its
# own, which neither reaches, so the search stops it as on Ctrl-C


def interrupt(signum: int, frame: object) -> None:
    """SIGTERM or SIGHUP as Ctrl-C: the running experiment is stopped and its trial recorded as interrupted."""
    raise KeyboardInterrupt


def run_search(space_file: Path, total: int, *, study_name: str, storage: str | None, seed: int,
               max_failures: int, plots: Path | None, target: str = TARGET) -> None:
    """Run the study `study_name` until it holds `total` finished trials, each up to the stage `target`, from the DVC
    project's root; then its summary and figures (into `plots`, by default the study folder). `storage` defaults to
    an SQLite file."""
    space, pruner = load_space(space_file), load_pruner(space_file)
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # the search prints its own line per trial
    url = storage or default_storage(study_name)
    study = open_study(study_name, url, seed, make_pruner(pruner))
    search = Search(study, space, total, max_failures, target=target, pruner=pruner)
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) != signal.SIG_IGN:  # nohup's SIGHUP stays ignored
            signal.signal(signum, interrupt)
    try:
        with database_loss_as_user_error(url):
            search_and_report(search, plots or STUDY_FOLDER / study_name)
    except KeyboardInterrupt:
        raise UserError("interrupted: run the same command again to continue the study") from None
    if search.failures >= search.max_failures:
        raise UserError(f"stopped after {search.failures} failed trials (--max-failures {search.max_failures}); "
                        f"the reasons are above, the logs in {search.logs}")


def search_and_report(search: Search, plots: Path) -> None:
    """Re-queue the trials a stopped search left running, run the search, print its summary, draw its figures."""
    for number in fail_orphans(search.study):
        print(f"trial {number} was interrupted by a search that was killed or lost the study database: marked "
              "failed, to be run again")
    search.run()
    params = load_params()  # the project's values; a trial's own where the space varies them
    val_images = params.data.val_size
    print(summary(search.study, val_images, params.train.epochs))
    draw_figures(search.study, search.space, plots, val_images)
