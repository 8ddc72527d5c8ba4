"""The hyperparameter search (resnet_cifar.tools.search): its space file, its trials as DVC experiments, and a study
that survives kills and is shared by several processes."""
import contextlib
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.pyplot as plt
import optuna
import pytest
import sqlalchemy
import yaml
from optuna.exceptions import StorageInternalError
from optuna.storages import RDBStorage

from browser import skip_unless_installed
from committed import REPO, committed_params_text
from interrupt import BLOCK_AFTER_FIRST_SAVE, hooked_env
from loopback import free_port
from postgres_server import find_postgres_bin, postgres_cluster, postgres_server
from processes import processes_in, session_processes
from project import TINY, command_env, run
from resnet_cifar.config import param_keys
from resnet_cifar.errors import UserError
from resnet_cifar.figures.search import parameters_figure, save_search_figures
from resnet_cifar.search import runner, trial
from resnet_cifar.search.report import summary, trials_table
from resnet_cifar.search.runner import Search
from resnet_cifar.search.space import Choices, Range, load_space, parse_space, suggest
from resnet_cifar.search.study import (
    FAILURE,
    HOST,
    PID,
    StorageLost,
    counts,
    database_loss_as_user_error,
    engine_options,
    fail_orphans,
    failed,
    open_study,
    shown_url,
    storage_error,
    storage_lost,
    with_driver,
    without_password,
)
from resnet_cifar.search.trial import Outcome, exp_run_command, experiment_name, failure_reason, metric

# Trials made by hand (study.ask) rather than by Study.optimize, which beats their heartbeat: Optuna warns.
pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage")

PARAMS_KEYS = param_keys()
SPACE = {"train.lr": {"low": 0.05, "high": 1.0, "log": True}, "train.epochs": {"low": 1, "high": 4},
         "train.label_smoothing": {"low": 0, "high": 1, "type": "float"},
         "train.flip": {"choices": ["none", "random"]}}


def test_a_good_space_parses_into_ranges_and_choices():
    space = parse_space(SPACE, PARAMS_KEYS, "space.yaml")
    assert space == {"train.lr": Range(0.05, 1.0, log=True), "train.epochs": Range(1, 4, integer=True),
                     "train.label_smoothing": Range(0, 1), "train.flip": Choices(("none", "random"))}


@pytest.mark.parametrize(("raw", "message"), [
    (None, "is empty"),
    ({}, "is empty"),
    (["train.lr"], "is empty"),
    ({"train.lrr": {"low": 0.1, "high": 1}}, "train.lrr not in params.yaml"),
    ({"lr": {"low": 0.1, "high": 1}}, "lr not in params.yaml"),
    ({"train.lr": {"low": 1.0, "high": 1.0}}, r"low \(1.0\) must be below high"),
    ({"train.lr": {"low": 2, "high": 1}}, "must be below high"),
    ({"train.lr": {"low": 0.0, "high": 1.0, "log": True}}, "log range needs low > 0"),
    ({"train.lr": {"low": 0.1}}, "needs low and high"),
    ({"train.lr": {"low": 0.1, "high": 1, "step": 2}}, "needs low and high"),
    ({"train.lr": {"low": "a", "high": 1}}, "must be numbers"),
    ({"train.lr": {"low": 0.1, "high": 1, "type": "complex"}}, "type must be one of float, int"),
    ({"train.epochs": {"low": 1.5, "high": 4, "type": "int"}}, "whole-number ends"),
    ({"train.flip": {"choices": []}}, "non-empty list"),
    ({"train.flip": {"choices": ["none"], "low": 1}}, "the only entry"),
    ({"train.milestones": {"choices": [[3, 6], [5]]}}, "each choice must be"),
    ({"train.lr": 0.1}, r"expected \{low"),
])
def test_a_malformed_space_is_one_line_naming_the_problem(raw, message):
    with pytest.raises(UserError, match=message) as err:
        parse_space(raw, PARAMS_KEYS, "space.yaml")
    assert "\n" not in str(err.value)


def test_a_missing_or_unreadable_space_file(tmp_path):
    with pytest.raises(UserError, match="cannot read search space"):
        load_space(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train.lr: {low: 0.1, high: [\n")
    with pytest.raises(UserError, match="is not valid YAML"):
        load_space(bad)


def test_the_shipped_space_is_valid_and_spans_the_defaults():
    space = load_space(REPO / "recipes/search/defaults.yaml")
    defaults = yaml.safe_load(committed_params_text())["train"]
    assert set(space) == {"train.lr", "train.weight_decay", "train.label_smoothing"}
    for key, dim in space.items():
        assert dim.low < defaults[key.split(".")[1]] < dim.high, key


def test_the_cli_rejects_a_bad_space_in_one_line_before_anything_runs(tmp_path):
    (tmp_path / "params.yaml").write_text(committed_params_text())
    (tmp_path / "space.yaml").write_text("train.lr: {low: 1.0, high: 0.1}\n")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}

    def search_here() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "resnet_cifar.tools.search", "space.yaml", "--trials", "2"],
                              cwd=tmp_path, capture_output=True, text=True, env=env)

    outside = search_here()
    assert outside.returncode == 2 and outside.stderr.startswith("error: not inside a DVC project")
    (tmp_path / ".dvc").mkdir()  # what DVC looks for to find a project's root
    result = search_here()
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == ["error: train.lr: low (1.0) must be below high (0.1)"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".dvc", "params.yaml", "space.yaml"]  # no study folder


def test_suggested_values_keep_to_the_space_and_its_types(tmp_path):
    space = parse_space(SPACE, PARAMS_KEYS, "space.yaml")
    study = open_study("s", f"sqlite:///{tmp_path}/s.db", seed=0)
    for _ in range(20):
        values = suggest(study.ask(), space)
        assert 0.05 <= values["train.lr"] <= 1.0 and isinstance(values["train.lr"], float)
        assert values["train.epochs"] in (1, 2, 3, 4) and isinstance(values["train.epochs"], int)
        assert values["train.flip"] in ("none", "random")


def test_each_trial_is_a_named_temporary_dvc_experiment():
    assert experiment_name("defaults", 7) == "defaults-7"
    command = exp_run_command("defaults-7", {"train.lr": 0.25, "train.flip": "none", "train.epochs": 2})
    assert command[1:] == ["-m", "dvc", "exp", "run", "--temp", "--name", "defaults-7", "-S", "train.lr=0.25",
                           "-S", "train.flip=none", "-S", "train.epochs=2"]
    assert "--force" not in command and "--no-run-cache" not in command  # the run-cache restores repeated params


def test_a_failed_experiment_gives_its_one_line_reason():
    stage = "Running stage 'train':\nerror: train.lr must be > 0, got -1.0\nERROR: failed to reproduce 'train'"
    assert failure_reason(stage) == "train.lr must be > 0, got -1.0"
    assert failure_reason("Reproducing\nERROR: failed to reproduce 'train': exited with 1\n") == \
        "failed to reproduce 'train': exited with 1"
    assert failure_reason("Killed\n") == "Killed"


def test_metrics_are_found_nested_or_dotted():
    assert metric({"best": {"val_acc": 0.5}, "accuracy": 0.4}, ("best", "val_acc")) == 0.5
    assert metric({"best.val_acc": 0.5}, ("best", "val_acc")) == 0.5
    assert metric({"accuracy": "!"}, ("accuracy",)) is None


def test_a_storage_that_cannot_be_opened_is_one_line(tmp_path):
    for url in ("foo://x", f"sqlite:///{tmp_path}/missing/folder/s.db"):
        with pytest.raises(UserError, match="cannot open the study storage") as err:
            open_study("s", url, seed=0)
        assert "\n" not in str(err.value)


def test_a_storage_password_is_shown_as_stars():
    url = "postgresql://alice:S3cret%40Pass@db.example:5432/studies"
    assert shown_url(url) == "postgresql://alice:***@db.example:5432/studies"
    assert without_password(f"FATAL for {url} (S3cret@Pass)", url) == (
        "FATAL for postgresql://alice:***@db.example:5432/studies (***)")
    assert shown_url("sqlite:///a.db") == "sqlite:///a.db" and without_password("x", "sqlite:///a.db") == "x"
    assert shown_url("not a url://bob:pw@host") == "not a url://bob:***@host"


def test_a_storage_that_refuses_the_connection_is_one_line_without_its_password():
    with pytest.raises(UserError, match="cannot open the study storage") as err:
        open_study("s", "postgresql://alice:S3cretPassw0rd@127.0.0.1:1/nodb", seed=0)
    assert "S3cretPassw0rd" not in str(err.value) and "alice:***@127.0.0.1:1" in str(err.value)
    assert err.value.__suppress_context__  # a traceback, if one were printed, would not show the original error


def test_a_postgresql_url_without_a_driver_names_the_installed_one():
    assert with_driver("postgresql://u@h:5432/db") == "postgresql+psycopg2://u@h:5432/db"
    assert with_driver("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert with_driver("sqlite:///a.db") == "sqlite:///a.db"


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def running_trial(study: optuna.Study, host: str, pid: int, lr: float) -> int:
    study.enqueue_trial({"train.lr": lr})
    trial = study.ask()
    trial.suggest_float("train.lr", 0.01, 1.0)
    trial.set_user_attr(HOST, host)
    trial.set_user_attr(PID, pid)
    return trial.number


def test_a_killed_searchs_trial_is_failed_and_queued_again_but_a_live_ones_is_not(tmp_path):
    study = open_study("s", f"sqlite:///{tmp_path}/s.db", seed=0)
    killed = running_trial(study, socket.gethostname(), dead_pid(), 0.3)
    running_trial(study, socket.gethostname(), os.getpid(), 0.2)  # a live process on this machine
    running_trial(study, "another-machine", dead_pid(), 0.1)  # its heartbeat decides, not a pid here
    assert fail_orphans(study) == [killed]
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "RUNNING", "RUNNING", "WAITING"]
    assert trials[killed].user_attrs[FAILURE].startswith("interrupted")
    assert trials[3].params == {"train.lr": 0.3}  # the interrupted trial, to be run again


def fake_search(tmp_path, monkeypatch, total: int, failing: dict[str, str] | None = None,
                max_failures: int | None = None) -> Search:
    """A search of one lr range whose experiments are not run: each trial's value is its lr, and the experiments
    named in `failing` fail with the reason given."""
    def fake_run_trial(name, params, log, watch):
        watch()
        if name in (failing or {}):
            return Outcome(None, None, failing[name])
        return Outcome(value=params["train.lr"], test_accuracy=params["train.lr"] / 2, failure=None)

    monkeypatch.setattr(runner, "run_trial", fake_run_trial)
    space = parse_space({"train.lr": {"low": 0.1, "high": 0.9}}, PARAMS_KEYS, "s.yaml")
    study = open_study("s", f"sqlite:///{tmp_path}/s.db", seed=0)
    return Search(study, space, total, max_failures=max_failures or total, logs=tmp_path / "logs")


def test_trials_is_the_studys_total_so_a_rerun_continues_it(tmp_path, monkeypatch, capsys):
    fake_search(tmp_path, monkeypatch, 3).run()
    assert counts(fake_search(tmp_path, monkeypatch, 3).study)["COMPLETE"] == 3
    fake_search(tmp_path, monkeypatch, 3).run()  # already full: runs nothing
    search = fake_search(tmp_path, monkeypatch, 4)
    search.run()
    trials = search.study.get_trials()
    assert [t.number for t in trials] == [0, 1, 2, 3] and counts(search.study)["COMPLETE"] == 4
    assert [t.user_attrs["experiment"] for t in trials] == ["s-0", "s-1", "s-2", "s-3"]
    lines = [line for line in capsys.readouterr().out.splitlines() if "best.val_acc" in line]
    assert len(lines) == 4 and lines[0].startswith("trial 0 best.val_acc ")


def test_a_failing_trial_is_recorded_with_its_reason_and_the_search_goes_on(tmp_path, monkeypatch, capsys):
    search = fake_search(tmp_path, monkeypatch, 3, failing={"s-1": "train.lr must be > 0, got -1.0"})
    search.run()
    trials = search.study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert trials[1].user_attrs[FAILURE] == "train.lr must be > 0, got -1.0"
    assert "trial 1 fail: train.lr must be > 0, got -1.0 (" in capsys.readouterr().out
    assert "failed: trial 1: train.lr must be > 0, got -1.0" in summary(search.study)


def test_an_interrupted_trial_is_recorded_and_run_again_by_the_next_search(tmp_path, monkeypatch, capsys):
    search = fake_search(tmp_path, monkeypatch, 3)
    real = runner.run_trial

    def interrupted_second(name, params, log, watch):
        if name == "s-1":
            raise KeyboardInterrupt
        return real(name, params, log, watch)

    monkeypatch.setattr(runner, "run_trial", interrupted_second)
    with pytest.raises(KeyboardInterrupt):
        search.run()
    trials = search.study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "WAITING"]
    assert trials[1].user_attrs[FAILURE] == "interrupted"
    assert trials[2].system_attrs["fixed_params"] == trials[1].params  # queued: its parameters fixed
    resumed = fake_search(tmp_path, monkeypatch, 3)
    capsys.readouterr()
    resumed.run()
    assert "trial 2 (s-2) running (trial 1 again): train.lr=" in capsys.readouterr().out
    trials = resumed.study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert trials[2].params == trials[1].params  # the interrupted trial's parameters, run again first


@pytest.mark.filterwarnings("ignore:Inconsistent parameter values")  # running_trial's range is not the space's
def test_a_killed_searchs_trial_runs_again_under_its_own_number_and_outcome(tmp_path, monkeypatch, capsys):
    search = fake_search(tmp_path, monkeypatch, 2)
    killed = running_trial(search.study, socket.gethostname(), dead_pid(), 0.3)
    assert fail_orphans(search.study) == [killed]
    search.run()
    assert f"trial 1 (s-1) running (trial {killed} again): train.lr=0.3\n" in capsys.readouterr().out
    trials = search.study.get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    assert trials[1].user_attrs.get(FAILURE) is None  # Optuna's retry copied trial 0's reason: not trial 1's
    assert [line for line in summary(search.study).splitlines() if line.startswith("failed:")] == [
        "failed: trial 0: interrupted: its search was killed or lost the study database"]


def test_a_queued_retry_is_not_listed_as_failed_before_it_runs(tmp_path):
    study = open_study("s", f"sqlite:///{tmp_path}/s.db", seed=0)
    running_trial(study, socket.gethostname(), dead_pid(), 0.3)
    fail_orphans(study)
    assert [t.state.name for t in study.get_trials()] == ["FAIL", "WAITING"]
    assert [t.number for t in failed(study)] == [0]


def test_a_lost_study_database_stops_the_running_trial_and_leaves_it_to_the_next_search(tmp_path, monkeypatch):
    search = fake_search(tmp_path, monkeypatch, 3)
    lost = sqlalchemy.exc.OperationalError("UPDATE", {}, Exception("server closed the connection"))
    real = runner.run_trial

    def database_lost_during_second(name, params, log, watch):
        if name == "s-1":
            search.study._storage._backend.lost = lost  # as the heartbeat records it
        return real(name, params, log, watch)

    monkeypatch.setattr(runner, "run_trial", database_lost_during_second)
    with pytest.raises(StorageLost) as err:
        search.run()
    assert storage_error(err.value) is lost
    assert [t.state.name for t in search.study.get_trials()] == ["COMPLETE", "RUNNING"]  # nothing more written


def test_a_heartbeat_that_cannot_reach_the_database_records_it_instead_of_dying(tmp_path, monkeypatch):
    study = open_study("s", f"sqlite:///{tmp_path}/s.db", seed=0)
    trial = study.ask()
    assert storage_lost(study) is None
    lost = StorageInternalError("An exception is raised during the commit.")
    monkeypatch.setattr(RDBStorage, "record_heartbeat", lambda self, trial_id: (_ for _ in ()).throw(lost))
    study._storage.record_heartbeat(trial._trial_id)
    assert storage_lost(study) is lost


def test_a_lost_database_is_one_line_without_the_password_however_optuna_wraps_it():
    url = "postgresql://alice:S3cret%40Pass@db.example:5432/studies"
    driver = Exception("connection to server failed: FATAL:  password authentication failed (S3cret@Pass)\n")
    lost = sqlalchemy.exc.OperationalError("SELECT 1", {}, driver)
    with pytest.raises(UserError) as err, database_loss_as_user_error(url):
        try:  # Optuna's tell, failing, then its `finally`: an UnboundLocalError whose context holds the cause
            try:
                raise StorageInternalError("An exception is raised during the commit.") from lost
            except StorageInternalError:
                raise UnboundLocalError("cannot access local variable 'updated_state'") from None
        except UnboundLocalError as unbound:
            unbound.__context__ = lost
            raise
    message = str(err.value)
    assert message == ("lost the study storage postgresql://alice:***@db.example:5432/studies (connection to "
                       "server failed: FATAL:  password authentication failed (***)): the finished trials are safe "
                       "in the study; run the same command again once the database is back to continue it")
    with pytest.raises(KeyError), database_loss_as_user_error(url):  # anything else is not the database's
        raise KeyError("x")


def test_a_server_storage_is_pinged_and_given_a_connect_timeout():
    assert engine_options("sqlite:///a.db") == {"connect_args": {"timeout": 60}}
    assert engine_options("postgresql+psycopg2://u@h/db") == {"pool_pre_ping": True,
                                                              "connect_args": {"connect_timeout": 10}}
    assert engine_options("postgresql+psycopg2://u@h/db?connect_timeout=3") == {"pool_pre_ping": True}


# A trial's stand-in: it starts a process of its own that ignores Ctrl-C (a stage's data loader, say), writes both
# process ids and waits; `deaf` makes it ignore Ctrl-C itself, as a stage that does not stop.
TRIAL = """
import signal, subprocess, sys, time
if sys.argv[2] == "deaf":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                          "time.sleep(300)"])
with open(sys.argv[1], "w") as f:
    f.write(f"{child.pid}")
time.sleep(300)
"""


@pytest.mark.parametrize("deaf", [False, True])
def test_a_stopped_trial_is_ended_with_every_process_it_started(tmp_path, monkeypatch, deaf):
    monkeypatch.setattr(trial, "STOP_SECONDS", 1)
    pids = tmp_path / "pids"
    sessions = []

    def interrupt_once_started() -> None:
        if pids.exists() and pids.read_text():
            sessions.append(os.getsid(int(pids.read_text())))
            raise KeyboardInterrupt

    command = [sys.executable, "-c", TRIAL, str(pids), "deaf" if deaf else "hears"]
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        trial.run_in_own_session(command, tmp_path / "log", interrupt_once_started, "s-0")
    assert sessions and sessions[0] != os.getsid(0)  # its own session, which the interrupt did not reach itself
    deadline = time.monotonic() + 10  # a killed process is gone once its new parent has reaped it
    while session_processes(sessions[0]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert session_processes(sessions[0]) == []
    assert (time.monotonic() - started < 10) and deaf == ("KeyboardInterrupt" not in (tmp_path / "log").read_text())


def test_a_stopped_trials_temporary_copy_is_removed_and_no_other(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exps = tmp_path / ".dvc/tmp/exps"
    for name, rev in (("s-0", "a1"), ("s-1", "b2")):
        (exps / f"standalone/tmp{rev}/.dvc").mkdir(parents=True)
        record = {"name": name, "root_dir": str(exps / f"standalone/tmp{rev}"), "location": "tempdir"}
        (exps / f"standalone/run/{rev}").mkdir(parents=True)
        (exps / f"standalone/run/{rev}/{rev}.run").write_text(json.dumps(record))
    (exps / "run/c3").mkdir(parents=True)
    (exps / "run/c3/c3.run").write_text(json.dumps({"name": "s-0", "root_dir": str(tmp_path)}))  # not a copy
    trial.remove_temporary_copy("s-0")
    assert not (exps / "standalone/tmpa1").exists() and (exps / "standalone/tmpb2/.dvc").is_dir()
    assert (tmp_path / ".dvc").is_dir()


def test_a_search_whose_trials_all_fail_stops_after_max_failures(tmp_path, monkeypatch):
    failing = {f"s-{n}": "diverged" for n in range(10)}
    search = fake_search(tmp_path, monkeypatch, 3, failing=failing, max_failures=2)
    search.run()
    assert counts(search.study) == {"FAIL": 2}


def test_the_summary_and_figures_of_a_study(tmp_path, monkeypatch):
    search = fake_search(tmp_path, monkeypatch, 3)
    search.run()
    text = summary(search.study)
    best = max(search.study.get_trials(), key=lambda t: t.value)
    assert text.splitlines()[0] == "study s: 3 complete, 0 failed, 0 pruned, 0 running"
    assert f"best: trial {best.number} (s-{best.number}) best.val_acc {best.value:.4f}" in text
    assert f"test accuracy {best.value / 2:.4f}, for information only" in text
    # Given the validation images, the best objective's binomial standard error: sqrt(p (1 - p) / 1000).
    sure = f"best.val_acc {best.value:.4f} ± {math.sqrt(best.value * (1 - best.value) / 1000):.4f} (1 standard error"
    assert sure in summary(search.study, 1000) and "±" not in text
    table = trials_table(search.study, search.space, 1000)
    assert list(table.columns) == ["number", "value", "se", "test_accuracy", "experiment", "train.lr"]
    assert len(table) == 3 and table["se"].notna().all()
    paths = save_search_figures(table, {"train.lr": True}, "best.val_acc", tmp_path / "figures")
    assert all(p.stat().st_size > 1000 for p in paths)
    choices = table.assign(**{"train.flip": ["none", "random", "none"]})
    figure = parameters_figure(choices, {"train.lr": True, "train.flip": False}, "best.val_acc")
    figure.canvas.draw()
    assert [label.get_text() for label in figure.axes[1].get_xticklabels()] == ["none", "random"]
    plt.close(figure)
    empty = save_search_figures(table.iloc[:0], {"train.lr": False}, "best.val_acc", tmp_path / "empty")
    assert all(p.is_file() for p in empty)


# End to end: searches on the tiny pipeline, each trial a real `dvc exp run`. One project serves the steps of a
# scenario; each study has its own name, so the steps do not see each other's trials.
LR_SPACE = "train.lr: {low: 0.005, high: 0.05, log: true}\n"
WORKSPACE_FILES = ("params.yaml", "dvc.lock", "metrics/train/metrics.json", "metrics/evaluate.json",
                   "models/best.pt")


@pytest.fixture(scope="module")
def search_project(tmp_path_factory, tiny_pipeline) -> Path:
    """A copy of the finished tiny pipeline with its baseline committed, as a clone is (.search/ git-ignored),
    and a space file beside it."""
    root = tmp_path_factory.mktemp("search")
    project = shutil.copytree(tiny_pipeline[0], root / "project", symlinks=True)
    (project / ".gitignore").write_text("/.search/\n")
    run(project, "git", "add", "-A")
    run(project, "git", "commit", "-qm", "baseline results")
    (root / "lr.yaml").write_text(LR_SPACE)
    return project


def search(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(project, sys.executable, "-m", "resnet_cifar.tools.search", *args, check=check)


def experiments(project: Path) -> dict[str, dict]:
    """Each experiment of `dvc exp show` by name: its params.yaml values."""
    shown = json.loads(run(project, "dvc", "exp", "show", "--json").stdout)
    return {exp["name"]: exp["revs"][0]["data"]["params"]["params.yaml"]["data"]
            for row in shown for exp in row.get("experiments") or []}


def fingerprint(project: Path) -> dict[str, bytes]:
    return {name: (project / name).read_bytes() for name in WORKSPACE_FILES}


@pytest.mark.e2e
def test_a_search_leaves_its_trials_as_experiments_a_rerun_adds_to_them_and_repeats_are_restored(search_project):
    project, space = search_project, str(search_project.parent / "lr.yaml")
    before = fingerprint(project)
    shown = search(project, space, "--trials", "3", "--study", "lr").stdout
    names = {name for name in experiments(project) if name.startswith("lr-")}
    assert names == {"lr-0", "lr-1", "lr-2"}, shown
    assert fingerprint(project) == before  # the workspace as the search found it
    assert "study lr: 3 complete, 0 failed, 0 pruned, 0 running" in shown
    best = (r"best: trial \d \(lr-\d\) best.val_acc [01]\.\d{4} ± 0\.\d{4} \(1 standard error, "
            rf"{TINY['val_size']} images\) \(test accuracy [01]\.\d{{4}}, for information")
    assert re.search(best, shown)
    assert len(re.findall(r"^trial \d best.val_acc [01]\.\d{4} \(\d+ s\)$", shown, re.M)) == 3
    assert all((project / ".search/lr" / f).stat().st_size > 0 for f in ("best_so_far.png", "parameters.png"))
    again = search(project, space, "--trials", "4", "--study", "lr").stdout
    assert {name for name in experiments(project) if name.startswith("lr-")} == names | {"lr-3"}, again
    assert "study lr: 4 complete" in again and fingerprint(project) == before
    # Another study draws the same first lr (the sampler's seed is per trial number): DVC's run-cache restores it.
    search(project, space, "--trials", "1", "--study", "repeat")
    shown = experiments(project)
    assert shown["repeat-0"]["train"]["lr"] == shown["lr-0"]["train"]["lr"]
    log = (project / ".search/logs/repeat-0.log").read_text()
    assert "Stage 'train' is cached - skipping run" in log, log


@pytest.mark.e2e
def test_a_trial_the_config_rejects_is_recorded_failed_with_its_reason(search_project):
    space = search_project.parent / "bad.yaml"
    space.write_text("train.label_smoothing: {low: 1.5, high: 2.0}\n")
    result = search(search_project, str(space), "--trials", "1", "--max-failures", "1", check=False)
    assert result.returncode == 2 and result.stderr.startswith("error: stopped after 1 failed trials"), result
    assert re.search(r"^trial 0 fail: train.label_smoothing must be in \[0, 1\), got 1\.\d+ \(\d+ s\)$",
                     result.stdout, re.M), result.stdout
    study = optuna.load_study(study_name="bad", storage=f"sqlite:///{search_project}/.search/bad.db")
    assert [t.state.name for t in study.trials] == ["FAIL"]
    assert study.trials[0].user_attrs[FAILURE].startswith("train.label_smoothing must be in [0, 1)")
    assert not any(name.startswith("bad-") for name in experiments(search_project))


@pytest.mark.e2e
def test_two_searches_on_one_study_never_run_the_same_trial(search_project):
    space = str(search_project.parent / "lr.yaml")
    command = [sys.executable, "-m", "resnet_cifar.tools.search", space, "--trials", "3", "--study", "pair"]
    workers = [subprocess.Popen(command, cwd=search_project, env=command_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [worker.communicate() for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    started = [re.findall(r"^trial (\d+) \(pair-\1\) running", out, re.M) for out, _ in outputs]
    assert all(started) and not set(started[0]) & set(started[1]), outputs  # each ran some, none twice
    study = optuna.load_study(study_name="pair", storage=f"sqlite:///{search_project}/.search/pair.db")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3  # the total asked for, no more
    names = {name for name in experiments(search_project) if name.startswith("pair-")}
    assert names == {t.user_attrs["experiment"] for t in study.trials} == {"pair-0", "pair-1", "pair-2"}


@pytest.fixture(scope="module")
def postgres_url():
    skip_unless_installed(find_postgres_bin() is not None, "PostgreSQL (initdb, postgres) is not installed")
    with postgres_server() as url:
        yield url


@pytest.mark.e2e
def test_a_search_stored_in_postgresql(search_project, postgres_url):
    space = str(search_project.parent / "lr.yaml")
    shown = search(search_project, space, "--trials", "1", "--study", "shared", "--storage", postgres_url).stdout
    study = optuna.load_study(study_name="shared", storage=with_driver(postgres_url))
    assert [(t.state.name, t.user_attrs["experiment"]) for t in study.trials] == [("COMPLETE", "shared-0")], shown
    assert experiments(search_project)["shared-0"]["train"]["lr"] == pytest.approx(study.trials[0].params["train.lr"])
    assert not (search_project / ".search/shared.db").exists()


@pytest.mark.e2e
def test_no_storage_password_is_printed_or_written_when_the_storage_cannot_be_opened(search_project, postgres_url):
    space, password = str(search_project.parent / "lr.yaml"), sqlalchemy.engine.make_url(postgres_url).password
    closed = postgres_url.replace(f":{sqlalchemy.engine.make_url(postgres_url).port}/", f":{free_port()}/")
    wrong = postgres_url.replace(password, f"wrong-{password}")  # holds the right one: one search finds both
    outputs = []
    for url, reason in ((closed, "Connection refused"), (wrong, 'password authentication failed for user "postgres"')):
        result = search(search_project, space, "--trials", "1", "--study", "secret", "--storage", url, check=False)
        assert result.returncode == 2 and result.stdout == "", result
        assert len(result.stderr.splitlines()) == 1 and reason in result.stderr, result.stderr
        assert result.stderr.startswith("error: cannot open the study storage postgresql://postgres:***@127.0.0.1:")
        outputs += [result.stdout, result.stderr]
    assert places_holding(search_project, password, outputs) == []


def places_holding(project: Path, secret: str, outputs: list[str]) -> list[str]:
    """Where `secret` is: the outputs given, the project's files (.git, .dvc/cache and .search included), its git
    history (every ref's, DVC's experiments' and the reflogs'), and the trees of DVC's experiment refs."""
    found = [f"output {n}" for n, text in enumerate(outputs) if secret in text]
    found += [str(path) for path in project.rglob("*")
              if path.is_file() and not path.is_symlink() and secret.encode() in path.read_bytes()]
    found += ["git log"] * (secret in run(project, "git", "log", "-p", "--all", "--reflog").stdout)
    refs = run(project, "git", "for-each-ref", "--format=%(refname)", "refs/exps").stdout.split()
    grep = run(project, "git", "grep", "-F", "-e", secret, *refs, check=False) if refs else None
    return found + (grep.stdout.splitlines() if grep else [])


def held_search(project: Path, name: str, *args: str) -> tuple[subprocess.Popen, Path]:
    """A search whose first trial blocks in training (BLOCK_AFTER_FIRST_SAVE), and the file that says it got there."""
    env, marker, _ = hooked_env(project.parent / name, BLOCK_AFTER_FIRST_SAVE)
    command = [sys.executable, "-m", "resnet_cifar.tools.search", str(project.parent / "lr.yaml"), "--study", name,
               "--trials", "1", *args]
    return subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True), marker


def trial_sessions(project: Path, search_process: subprocess.Popen, marker: Path, seconds: float = 240) -> set[int]:
    """Once the held search's trial is in training: the sessions of the processes that run in its temporary copy."""
    deadline = time.monotonic() + seconds
    while not marker.exists():
        assert search_process.poll() is None, search_process.communicate()
        assert time.monotonic() < deadline, "the trial did not reach its first epoch in time"
        time.sleep(0.2)
    sessions = set(processes_in(project / ".dvc/tmp/exps").values())
    assert sessions and os.getsid(search_process.pid) not in sessions  # the trial runs in a session of its own
    return sessions


def assert_trial_ended(project: Path, sessions: set[int]) -> None:
    """No process of the trial is left, in its sessions or in DVC's temporary copies, nor is its copy."""
    deadline = time.monotonic() + 10  # a killed process is gone once its new parent has reaped it
    while any(map(session_processes, sessions)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [session_processes(session) for session in sessions] == [[]] * len(sessions)
    assert processes_in(project / ".dvc/tmp/exps") == {}
    assert list((project / ".dvc/tmp/exps").glob("standalone/tmp*")) == []


def end_leftovers(search_process: subprocess.Popen, sessions: set[int]) -> None:
    """After a failed test, nothing of it left running."""
    for session in sessions:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(session, signal.SIGKILL)
    if search_process.poll() is None:
        search_process.kill()
        search_process.communicate()


def failed_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("failed:")]


@pytest.mark.e2e
def test_a_stopped_search_ends_its_trial_whole_and_the_next_runs_it_again(search_project):
    space, sessions = str(search_project.parent / "lr.yaml"), set()
    process, marker = held_search(search_project, "stop")
    try:
        sessions = trial_sessions(search_project, process, marker)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        end_leftovers(process, sessions)
    assert process.returncode == 2 and err == "error: interrupted: run the same command again to continue the study\n"
    assert_trial_ended(search_project, sessions)
    study = optuna.load_study(study_name="stop", storage=f"sqlite:///{search_project}/.search/stop.db")
    assert [(t.state.name, t.user_attrs.get(FAILURE)) for t in study.trials] == [("FAIL", "interrupted"),
                                                                                 ("WAITING", None)]
    again = search(search_project, space, "--trials", "1", "--study", "stop").stdout
    lr = re.search(r"^trial 0 \(stop-0\) running: (train.lr=\S+)$", out, re.M)[1]
    assert f"trial 1 (stop-1) running (trial 0 again): {lr}\n" in again
    assert "study stop: 1 complete, 1 failed, 0 pruned, 0 running" in again
    assert failed_lines(again) == ["failed: trial 0: interrupted"]


@pytest.mark.e2e
def test_a_study_database_lost_mid_search_is_one_line_and_the_study_goes_on_once_it_is_back(search_project):
    skip_unless_installed(find_postgres_bin() is not None, "PostgreSQL (initdb, postgres) is not installed")
    space, sessions = str(search_project.parent / "lr.yaml"), set()
    with postgres_cluster() as cluster:
        with cluster.running():
            process, marker = held_search(search_project, "lost", "--storage", cluster.url)
            try:
                sessions = trial_sessions(search_project, process, marker)
            except BaseException:
                end_leftovers(process, sessions)
                raise
        try:  # the server is stopped: the trial's next heartbeat finds it gone
            out, err = process.communicate(timeout=90)
        finally:
            end_leftovers(process, sessions)
        assert process.returncode == 2 and len(err.splitlines()) == 1, err
        assert err.startswith(f"error: lost the study storage postgresql://postgres:***@127.0.0.1:{cluster.port}/"
                              "postgres (") and "Connection refused" in err, err
        assert err.endswith("the finished trials are safe in the study; run the same command again once the "
                            "database is back to continue it\n")
        assert_trial_ended(search_project, sessions)
        with cluster.running():
            again = search(search_project, space, "--trials", "1", "--study", "lost", "--storage", cluster.url)
            study = optuna.load_study(study_name="lost", storage=with_driver(cluster.url))
            assert [t.state.name for t in study.trials] == ["FAIL", "COMPLETE"]
    assert ("trial 0 was interrupted by a search that was killed or lost the study database: marked failed, to be "
            "run again\ntrial 1 (lost-1) running (trial 0 again): train.lr=") in again.stdout
    assert "study lost: 1 complete, 1 failed, 0 pruned, 0 running" in again.stdout
    assert failed_lines(again.stdout) == ["failed: trial 0: interrupted: its search was killed or lost the study "
                                          "database"]
    assert "lost-1" in experiments(search_project)  # a real trial's experiment, among the places searched
    assert places_holding(search_project, cluster.password, [out, err, again.stdout, again.stderr]) == []
