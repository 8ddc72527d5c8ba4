"""The search loop: each trial drawn by the study, run as a DVC experiment, reported on one line; stopped once the
study holds the total asked for, or after too many failures in a row of this process."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from .space import Dimension, suggest
from .study import EXPERIMENT, FAILURE, RETRY_OF, STUDY_FOLDER, TEST_ACCURACY, claim, taken
from .trial import OBJECTIVE_NAME, experiment_name, run_trial


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
    failures: int = field(default=0, init=False)
    started: dict[int, float] = field(default_factory=dict, init=False)

    def objective(self, trial: optuna.Trial) -> float:
        claim(trial)
        params = suggest(trial, self.space)
        name = experiment_name(self.study.study_name, trial.number)
        trial.set_user_attr(EXPERIMENT, name)
        self.started[trial.number] = time.monotonic()
        again = f" (trial {trial.user_attrs[RETRY_OF]} again)" if RETRY_OF in trial.user_attrs else ""
        print(f"trial {trial.number} ({name}) running{again}: {format_params(params)}", flush=True)
        try:
            outcome = run_trial(name, params, self.logs / f"{name}.log")
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the next search runs these parameters again
            trial.set_user_attr(FAILURE, "interrupted")
            self.study.enqueue_trial(params, user_attrs={RETRY_OF: trial.number})
            raise
        if outcome.failure:
            trial.set_user_attr(FAILURE, outcome.failure)
            raise TrialFailed(outcome.failure)
        trial.set_user_attr(TEST_ACCURACY, outcome.test_accuracy)
        return outcome.value

    def report(self, study: Study, trial: FrozenTrial) -> None:
        """The trial's line; then stop when the study is full or this process failed too often."""
        seconds = time.monotonic() - self.started.get(trial.number, time.monotonic())
        if trial.state == TrialState.COMPLETE:
            result = f"{OBJECTIVE_NAME} {trial.value:.4f}"
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
