"""One trial of the search, run as a DVC experiment: `dvc exp run --temp --name NAME -S key=value ...`.

`--temp` runs the pipeline in a temporary copy of the repository, so the workspace (params.yaml, the outputs) is
left as it was, and several trials can run at once. The experiment is an ordinary one: `dvc exp show` lists it,
`dvc exp push` shares it, and a trial whose parameters already ran is restored from DVC's run-cache.
"""
from __future__ import annotations

import math
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError, one_line
from ..experiments.store import ExperimentStore
from ..overrides import as_set_arguments

OBJECTIVE = ("best", "val_acc")  # metrics/train/metrics.json: the best validation accuracy; never a test score
OBJECTIVE_NAME = ".".join(OBJECTIVE)  # as DVC shows it: best.val_acc
TEST_METRIC = ("accuracy",)  # metrics/evaluate.json, shown beside the best trial for information only
LOCK_MESSAGE = "Unable to acquire lock"
LOCK_RETRIES = 5


@dataclass(frozen=True)
class Outcome:
    """What a trial's experiment gave: its objective and test accuracy, or why it failed."""

    value: float | None
    test_accuracy: float | None
    failure: str | None


def experiment_name(study: str, number: int) -> str:
    """The experiment of trial `number`: `<study>-<number>`, unique in the study and a valid git ref name."""
    return f"{study}-{number}"


def exp_run_command(name: str, params: dict[str, Any]) -> list[str]:
    words = [w for argument in as_set_arguments(params) for w in argument.split(" ", 1)]
    return [sys.executable, "-m", "dvc", "exp", "run", "--temp", "--name", name, *words]


def failure_reason(output: str) -> str:
    """The one line that says why `dvc exp run` failed: a stage's own `error:` line when there is one (the
    pipeline's one-line errors), else DVC's last ERROR line, else the last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for prefix in ("error:", "ERROR:"):
        found = [line for line in lines if line.startswith(prefix)]
        if found:
            return one_line(found[-1].removeprefix(prefix).strip())
    return lines[-1] if lines else "dvc exp run failed without output"


def run_experiment(name: str, params: dict[str, Any], log: Path) -> str | None:
    """Run the experiment, its output into `log`; None on success, else the failure's one-line reason. A DVC lock
    held by another process (a moment's overlap of two searches) is waited out and retried."""
    log.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(LOCK_RETRIES):
        result = subprocess.run(exp_run_command(name, params), capture_output=True, text=True,
                                stdin=subprocess.DEVNULL)
        log.write_text(result.stdout + result.stderr)
        if result.returncode == 0:
            return None
        if LOCK_MESSAGE not in result.stdout + result.stderr:
            break
        time.sleep(2 ** attempt)
    return failure_reason(result.stdout + "\n" + result.stderr)


def metric(metrics: dict, path: tuple[str, ...]) -> float | None:
    """A metric by its path in an experiment's metrics, nested ({"best": {"val_acc": ..}}) or dotted (as the store
    gives them)."""
    node: Any = metrics
    for part in path:
        if not isinstance(node, dict) or part not in node:
            dotted = metrics.get(".".join(path)) if isinstance(metrics, dict) else None
            return float(dotted) if isinstance(dotted, int | float) else None
        node = node[part]
    return float(node) if isinstance(node, int | float) and not isinstance(node, bool) else None


def read_outcome(name: str) -> Outcome:
    """The finished experiment's objective and test accuracy, read from the experiment store by its name."""
    try:
        with ExperimentStore() as store:
            metrics = store.experiment(name).metrics
    except UserError as err:
        return Outcome(None, None, one_line(f"cannot read the metrics of experiment {name}: {err}"))
    value = metric(metrics, OBJECTIVE)
    if value is None or not math.isfinite(value):
        return Outcome(None, None, f"experiment {name} has no finite {OBJECTIVE_NAME}: {value}")
    return Outcome(value, metric(metrics, TEST_METRIC), None)


def run_trial(name: str, params: dict[str, Any], log: Path) -> Outcome:
    failure = run_experiment(name, params, log)
    return Outcome(None, None, failure) if failure else read_outcome(name)
