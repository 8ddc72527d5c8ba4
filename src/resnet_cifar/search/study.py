"""The Optuna study that holds a search's trials: where it is stored, how it is sampled, every attribute a trial
carries, every question asked of the study, and how a search that was killed or runs beside others picks up the
right trials.

Each process beats a heartbeat for its running trial. A running trial whose owner died (no heartbeat for
GRACE_SECONDS, or, on this machine, a process id that no longer exists) is marked failed and its parameters are
queued again, so a resumed search re-runs it; a live process's trial is never touched. A heartbeat that cannot
reach the database marks the storage lost, and the search stops its trial (StorageLost) rather than train on to a
result it could not record.
"""
from __future__ import annotations

import os
import re
import socket
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
import sqlalchemy
from optuna.exceptions import ExperimentalWarning, StorageInternalError
from optuna.pruners import BasePruner, NopPruner
from optuna.samplers import BaseSampler, TPESampler
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from ..errors import UserError, one_line

STUDY_FOLDER = Path(".search")  # git-ignored: the default storage, the trials' logs, the figures
OPEN_ATTEMPTS = 5
HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 60
PASSWORD_IN_URL = re.compile(r"(://[^/@:]*:)([^/@]*)@")  # scheme://user:PASSWORD@host, where SQLAlchemy cannot parse
CONNECT_SECONDS = 10  # a database host that does not answer is an error, not a search that hangs
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)  # what counts towards --trials

# Every user attr a trial carries: set by the process that runs it, read by the report and by later searches.
HOST, PID = "host", "pid"  # which process runs the trial: a later search on this machine can tell it was orphaned
EXPERIMENT = "experiment"  # the name of the trial's DVC experiment
TEST_ACCURACY = "test_accuracy"  # its experiment's test accuracy, shown for information only
FAILURE = "failure"  # why the trial failed, in one line
PRUNED = "pruned"  # why the trial was pruned and after which epoch, in one line
RETRY_OF = "retry_of"  # the number of the interrupted trial whose parameters this one runs again
# The FAILURE of a trial left running by its search, found by the next search on its machine.
ORPHANED = "interrupted: its search was killed or lost the study database"


def default_storage(study: str) -> str:
    """An SQLite file under the study folder: a search that needs no server."""
    STUDY_FOLDER.mkdir(exist_ok=True)
    return f"sqlite:///{STUDY_FOLDER / study}.db"


def with_driver(url: str) -> str:
    """A PostgreSQL URL without a driver names psycopg2, the one installed: SQLAlchemy's default is psycopg 3."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg2://" + url.removeprefix(scheme)
    return url


class StudyStorage(RDBStorage):
    """An RDBStorage whose heartbeat, which Optuna beats from a thread of its own while a trial runs, records a
    database it cannot reach in `lost` instead of dying with a traceback: the search stops the trial on it."""

    lost: BaseException | None = None

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            super().record_heartbeat(trial_id)
        except (sqlalchemy.exc.SQLAlchemyError, StorageInternalError) as err:
            self.lost = err


class StorageLost(BaseException):
    """The study's database stopped answering while a trial ran. A BaseException, as KeyboardInterrupt is, so that
    Optuna does not take it for the trial's failure and try to record that in the lost database."""


def engine_options(url: str) -> dict:
    """SQLite waits out a peer's write; a server is pinged before each use of a pooled connection, so that a
    restarted one is simply reconnected to, and given CONNECT_SECONDS to answer unless the URL says otherwise."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 60}}
    options: dict = {"pool_pre_ping": True}
    if url.startswith("postgresql") and "connect_timeout=" not in url:
        options["connect_args"] = {"connect_timeout": CONNECT_SECONDS}
    return options


def storage(url: str) -> StudyStorage:
    """Any Optuna RDB storage URL (sqlite:///..., postgresql://...), with heartbeats and failed-trial retries."""
    url = with_driver(url)
    with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna since 2.8: say so once, in the docs
        warnings.simplefilter("ignore", ExperimentalWarning)
        return StudyStorage(url, engine_kwargs=engine_options(url), heartbeat_interval=HEARTBEAT_SECONDS,
                            grace_period=GRACE_SECONDS, heartbeat_stale_trial_callback=retry())


def storage_lost(study: Study) -> BaseException | None:
    """Why the study's heartbeat last failed to reach its database, if it did."""
    backend = getattr(study._storage, "_backend", study._storage)  # Optuna wraps an RDBStorage in a cache
    return getattr(backend, "lost", None)


def retry() -> RetryHeartbeatStaleTrialCallback:
    """Queue a failed trial's parameters again, once."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        return RetryHeartbeatStaleTrialCallback(max_retry=1)


class PerTrialSeedTPE(BaseSampler):
    """TPE whose random draws are seeded by (seed, trial number): reproducible, yet two processes that share a
    study draw different parameters instead of the same sequence from one seed."""

    def __init__(self, seed: int) -> None:
        self.seed, self.tpe = seed, TPESampler(seed=seed)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self.tpe = TPESampler(seed=self.seed + trial.number)  # TPE keeps no state but its random generator
        self.tpe.before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):
        return self.tpe.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self.tpe.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self.tpe.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values) -> None:
        self.tpe.after_trial(study, trial, state, values)


def creation_race(err: Exception) -> bool:
    """Whether `err` is another process creating the same tables or rows a moment earlier."""
    return isinstance(err, sqlalchemy.exc.IntegrityError) or (
        isinstance(err, sqlalchemy.exc.OperationalError) and "already exists" in str(err))


def shown_url(url: str) -> str:
    """The storage URL as it may be printed or written: its password as ***, as psql and SQLAlchemy show one
    (terminal and CI logs and issue reports are where passwords leak from)."""
    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy parses: hide whatever stands between 'user:' and '@'
        return PASSWORD_IN_URL.sub(r"\1***@", url)


def without_password(text: str, url: str) -> str:
    """`text` (a library's error message, say) with the URL's password, as written or decoded, as ***."""
    written = PASSWORD_IN_URL.search(url)
    secrets = {written[2]} if written else set()
    try:
        secrets.add(sqlalchemy.engine.make_url(url).password or "")
    except Exception:
        pass
    for secret in sorted(secrets - {""}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def library_reason(err: BaseException, url: str) -> str:
    """A storage library's error as one line without the URL's password: the driver's own message where SQLAlchemy
    wraps one (SQLAlchemy's adds the statement and a link)."""
    return without_password(one_line(str(getattr(err, "orig", None) or err)), url)


def open_study(name: str, url: str, seed: int, pruner: BasePruner | None = None) -> Study:
    """The study `name` at `url`, created if new, its trials pruned by `pruner` (none by default). Two searches
    that start at once may both create the storage's tables: the one that loses that race tries again. A storage
    that cannot be opened is a `UserError`."""
    for attempt in range(OPEN_ATTEMPTS):
        try:
            return optuna.create_study(storage=storage(url), study_name=name, direction="maximize",
                                       sampler=PerTrialSeedTPE(seed), pruner=pruner or NopPruner(),
                                       load_if_exists=True)
        except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError) as err:
            if creation_race(err):
                time.sleep(1 + attempt)
                continue
            raise UserError(f"cannot open the study storage {shown_url(url)}: {library_reason(err, url)}") from None
    raise UserError(f"cannot open the study storage {shown_url(url)}: its tables are still being created")


def storage_error(err: BaseException) -> BaseException | None:
    """The database's error behind `err`, if one is: SQLAlchemy's (the driver's inside), else Optuna's wrapper of
    it. Optuna may hide it in the context of another: its `tell`, failing, raises an UnboundLocalError."""
    chain: list[BaseException] = []
    while err is not None and err not in chain:
        chain.append(err)
        err = err.__cause__ or err.__context__
    for kind in (sqlalchemy.exc.SQLAlchemyError, StorageInternalError):
        found = [e for e in chain if isinstance(e, kind)]
        if found:
            return found[0]
    return None


@contextmanager
def database_loss_as_user_error(url: str) -> Iterator[None]:
    """A study database that goes away mid-search (stopped, unreachable, its password changed) as one line, not
    a library's traceback: the finished trials are safe in it, and the same command continues once it is back."""
    try:
        yield
    except (Exception, StorageLost) as err:
        lost = storage_error(err)
        if lost is None:
            raise
        raise UserError(f"lost the study storage {shown_url(url)} ({library_reason(lost, url)}): the finished "
                        "trials are safe in the study; run the same command again once the database is back to "
                        "continue it") from None


def claim(trial: optuna.Trial) -> None:
    """Mark `trial` as this process's, so that a later search on this machine can tell it was orphaned. A retry
    starts with the failed trial's user attrs, copied by Optuna: its reason for failing is not this trial's."""
    trial.set_user_attr(HOST, socket.gethostname())
    trial.set_user_attr(PID, os.getpid())
    if trial.user_attrs.get(FAILURE):
        trial.set_user_attr(FAILURE, None)


def repeated(trial: optuna.Trial) -> int | None:
    """The number of the failed trial whose parameters `trial` runs again, if it does: Optuna's retry of a killed
    search's or a dead machine's trial records it, an interrupted search's queued trial carries RETRY_OF."""
    frozen = trial.storage.get_trial(trial._trial_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        number = RetryHeartbeatStaleTrialCallback.retried_trial_number(frozen)
    return frozen.user_attrs.get(RETRY_OF) if number is None else number


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def orphaned(trial: FrozenTrial) -> bool:
    """A running trial whose process, on this machine, is gone."""
    attrs = trial.user_attrs
    return (trial.state == TrialState.RUNNING and attrs.get(HOST) == socket.gethostname()
            and isinstance(attrs.get(PID), int) and not process_alive(attrs[PID]))


def fail_orphans(study: Study) -> list[int]:
    """Mark this machine's orphaned trials failed and queue their parameters again; their numbers."""
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if orphaned(trial):
            study._storage.set_trial_user_attr(trial._trial_id, FAILURE, ORPHANED)
            if study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
                retry()(study, study._storage.get_trial(trial._trial_id))
                failed.append(trial.number)
    return failed


def counts(study: Study) -> Counter:
    """How many trials are in each state, by state name (COMPLETE, FAIL, PRUNED, RUNNING, WAITING)."""
    return Counter(t.state.name for t in study.get_trials(deepcopy=False))


def finished(study: Study) -> list[FrozenTrial]:
    """The trials that count towards --trials."""
    return study.get_trials(deepcopy=False, states=FINISHED)


def complete(study: Study) -> list[FrozenTrial]:
    """The trials that ran to their end: a pruned trial's value is only its last epoch's."""
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def best(study: Study) -> FrozenTrial | None:
    """The complete trial with the highest objective (the first of equals); None before one completes."""
    scored = [t for t in complete(study) if t.value is not None]
    return max(scored, key=lambda t: t.value) if scored else None


def failed(study: Study) -> list[FrozenTrial]:
    """The failed trials that recorded why, in the order they started (a queued retry carries a copy of the reason
    until it runs: not its own)."""
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)) if t.user_attrs.get(FAILURE)]


def taken(study: Study) -> int:
    """Trials that count towards the total or may yet: finished ones and those running now."""
    states = counts(study)
    return sum(states[s.name] for s in (*FINISHED, TrialState.RUNNING))
