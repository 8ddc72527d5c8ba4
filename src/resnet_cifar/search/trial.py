"""One trial of the search, run as a DVC experiment: `dvc exp run --temp --name NAME -S key=value ...`.

`--temp` runs the pipeline in a temporary copy of the repository, so the workspace (params.yaml, the outputs) is
left as it was, and several trials can run at once. The experiment is an ordinary one: `dvc exp show` lists it,
`dvc exp push` shares it, and a trial whose parameters already ran is restored from DVC's run-cache. It runs the
pipeline up to the stage it is scored on (TARGET), not the corrupted images, robustness and figures that nothing
in the search reads: `dvc exp apply NAME` then `dvc repro` completes one.

`dvc exp run` runs in a session of its own, so that a trial stopped early (the search interrupted or failing) is
stopped whole: DVC, the stage it runs and whatever that started, and the temporary copy is removed.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..engine.epoch_feed import FEED_VARIABLE
from ..errors import UserError, one_line
from ..experiments.store import ExperimentStore, number
from ..overrides import as_set_arguments
from ..paths import TRAIN_PLOTS

OBJECTIVE = ("best", "val_acc")  # metrics/train/metrics.json: the best validation accuracy; never a test score
OBJECTIVE_NAME = ".".join(OBJECTIVE)  # as DVC shows it: best.val_acc
TEST_METRIC = ("accuracy",)  # metrics/evaluate.json, shown beside the best trial for information only
VAL_CURVE = TRAIN_PLOTS / "metrics" / "val" / "acc.tsv"  # DVCLive's file of the train stage's val/acc per epoch
TARGET = "evaluate"  # the last stage a trial runs: train gives the objective, evaluate the test accuracy
LOCK_MESSAGE = "Unable to acquire lock"
LOCK_RETRIES = 5
WATCH_SECONDS = 1  # how often a running trial's `watch` is asked whether to go on
STOP_SECONDS = 30  # how long a stopped trial's DVC may take to end its stage and remove its temporary copy
# Where `dvc exp run --temp` makes its temporary copies (DVC's TempDirExecutor, in standalone/), and the JSON files
# that name each copy's experiment and folder (in run/<rev>/ and standalone/run/<rev>/, as <rev>.run).
TEMPORARY_COPIES = Path(".dvc/tmp/exps")
COPY_RECORDS = ("run/*/*.run", "*/run/*/*.run")
HELD_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


@dataclass(frozen=True)
class Outcome:
    """What a trial's experiment gave: its objective and test accuracy, or why it failed."""

    value: float | None
    test_accuracy: float | None
    failure: str | None


def experiment_name(study: str, number: int) -> str:
    """The experiment of trial `number`: `<study>-<number>`, unique in the study and a valid git ref name."""
    return f"{study}-{number}"


def exp_run_command(name: str, params: dict[str, Any], target: str = TARGET) -> list[str]:
    """The trial's `dvc exp run`, up to the stage `target` (and the stages it depends on)."""
    words = [w for argument in as_set_arguments(params) for w in argument.split(" ", 1)]
    return [sys.executable, "-m", "dvc", "exp", "run", "--temp", "--name", name, *words, target]


def failure_reason(output: str) -> str:
    """The one line that says why `dvc exp run` failed: a stage's own `error:` line when there is one (the
    pipeline's one-line errors), else DVC's last ERROR line, else the last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for prefix in ("error:", "ERROR:"):
        found = [line for line in lines if line.startswith(prefix)]
        if found:
            return one_line(found[-1].removeprefix(prefix).strip())
    return lines[-1] if lines else "dvc exp run failed without output"


def run_experiment(name: str, params: dict[str, Any], log: Path, watch: Callable[[], None],
                   target: str = TARGET, feed: Path | None = None) -> str | None:
    """Run the experiment, its output into `log`; None on success, else the failure's one-line reason. A DVC lock
    held by another process (a moment's overlap of two searches) is waited out and retried. `watch` is called
    while it runs: what it raises, as an interrupt does, stops the experiment and propagates. The train stage
    tells each epoch's validation accuracy to the file `feed` (`epoch_feed`), if given."""
    env = None if feed is None else {**os.environ, FEED_VARIABLE: str(feed.resolve())}
    log.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(LOCK_RETRIES):
        status = run_in_own_session(exp_run_command(name, params, target), log, watch, name, env)
        output = log.read_text()
        if status == 0:
            return None
        if LOCK_MESSAGE not in output:
            break
        time.sleep(2 ** attempt)
    return failure_reason(output)


def run_in_own_session(command: list[str], log: Path, watch: Callable[[], None], name: str,
                       env: dict[str, str] | None = None) -> int:
    """`command`'s exit status (run with the environment `env`, by default this process's), its output into
    `log`. Stopped by an exception (an interrupt, or `watch` raising), it is ended whole, every process it started
    and the temporary copy of experiment `name`."""
    with open(log, "w") as output:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                   env=env, start_new_session=True)
    try:
        return wait(process, watch)
    except BaseException:
        with signals_held():
            end_session(process)
            remove_temporary_copy(name)
        raise


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP until the block is done: a second one does not cut the stopping short."""
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


def wait(process: subprocess.Popen, watch: Callable[[], None]) -> int:
    """`process`'s exit status, calling `watch` every WATCH_SECONDS until it ends."""
    while True:
        watch()
        try:
            return process.wait(timeout=WATCH_SECONDS)
        except subprocess.TimeoutExpired:
            continue


def signal_session(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)  # its session's one process group, led by it
    except ProcessLookupError:  # none of its processes is left
        pass


def end_session(process: subprocess.Popen) -> None:
    """End `process` and every process it started: SIGINT first, as Ctrl-C, on which DVC stops its stage and
    removes its temporary copy; SIGKILL for whatever is left after STOP_SECONDS or once DVC has ended."""
    signal_session(process, signal.SIGINT)
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        pass
    signal_session(process, signal.SIGKILL)
    process.wait()


def remove_temporary_copy(name: str) -> None:
    """Remove what is left of the temporary copy of experiment `name`: DVC removes it itself when stopped, but
    not when killed."""
    base = TEMPORARY_COPIES.resolve()
    for info in [path for pattern in COPY_RECORDS for path in TEMPORARY_COPIES.glob(pattern)]:
        try:
            record = json.loads(info.read_text())
        except (OSError, ValueError):
            continue
        folder = Path(record.get("root_dir") or base).resolve()
        if record.get("name") == name and folder != base and folder.is_relative_to(base):
            shutil.rmtree(folder, ignore_errors=True)


def metric(metrics: dict, path: tuple[str, ...]) -> float | None:
    """A metric by its path in an experiment's metrics, nested ({"best": {"val_acc": ..}}) or dotted (as the store
    gives them)."""
    node: Any = metrics
    for part in path:
        if not isinstance(node, dict) or part not in node:
            dotted = metrics.get(".".join(path)) if isinstance(metrics, dict) else None
            return number(dotted)
        node = node[part]
    return number(node)


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


def read_curve(name: str) -> dict[int, float]:
    """The finished experiment's validation accuracy after each epoch (DVCLive's val/acc), read from the store; empty
    where it has none. For a trial DVC's run-cache restored: its stage told no epochs while it ran."""
    try:
        with ExperimentStore() as store:
            text = store.read_bytes(name, VAL_CURVE.as_posix()).decode()
        rows = list(csv.DictReader(io.StringIO(text), delimiter="\t"))
        return {int(row["step"]): float(row["acc"]) for row in rows}
    except Exception:  # the curve is a nicety: unreadable (DVC's databases busy with another search's trial, say),
        return {}  # the trial is complete without it and only the median rule goes without its epochs


def run_trial(name: str, params: dict[str, Any], log: Path, watch: Callable[[], None],
              target: str = TARGET, feed: Path | None = None) -> Outcome:
    """Run the trial's experiment up to the stage `target` and read its outcome; `watch`, called while it runs, may
    stop it by raising (the pruner, reading the epochs told to `feed`)."""
    failure = run_experiment(name, params, log, watch, target, feed)
    return Outcome(None, None, failure) if failure else read_outcome(name)
