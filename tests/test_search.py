"""The hyperparameter search (resnet_cifar.tools.search): its space file, its trials as DVC experiments, and a study
that survives kills and is shared by several processes."""
import contextlib
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import zlib
from pathlib import Path

import matplotlib.pyplot as plt
import optuna
import pytest
import sqlalchemy
import yaml
from optuna.exceptions import StorageInternalError
from optuna.storages import RDBStorage

from browser import skip_unless_installed
from committed import REPO, committed_params, committed_params_text
from interrupt import BLOCK_AFTER_FIRST_SAVE, hooked_env
from loopback import free_port
from postgres_server import find_postgres_bin, postgres_cluster, postgres_server
from processes import processes_in, session_processes
from project import TINY, command_env, run
from resnet_cifar.config import param_keys
from resnet_cifar.engine.epoch_feed import FEED_VARIABLE, EpochReport, read_epochs, tell_epoch
from resnet_cifar.errors import UserError
from resnet_cifar.figures.search import parameters_figure, save_search_figures
from resnet_cifar.search import runner, trial
from resnet_cifar.search.pruning import EpochWatch, Pruned, make_pruner
from resnet_cifar.search.report import epoch_curves, importances, summary, trials_table
from resnet_cifar.search.runner import Search
from resnet_cifar.search.space import Choices, Range, load_pruner, load_space, parse_space, suggest
from resnet_cifar.search.study import (
    FAILURE,
    HOST,
    PID,
    PRUNED,
    StorageLost,
    best,
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
from resnet_cifar.search.trial import TARGET, Outcome, exp_run_command, experiment_name, failure_reason, metric

# Trials made by hand (study.ask) rather than by Study.optimize, which beats their heartbeat: Optuna warns.
pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage")

PARAMS = committed_params()
SPACE = {"train.lr": {"low": 0.05, "high": 1.0, "log": True}, "train.epochs": {"low": 1, "high": 4},
         "train.weight_decay": {"low": 0, "high": 1, "type": "float"},
         "train.flip": {"choices": ["none", "random"]}}


def test_a_good_space_parses_into_ranges_and_choices():
    space = parse_space(SPACE, PARAMS, "space.yaml")
    assert space == {"train.lr": Range(0.05, 1.0, log=True), "train.epochs": Range(1, 4, integer=True),
                     "train.weight_decay": Range(0, 1), "train.flip": Choices(("none", "random"))}


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
    ({"pruner": "median"}, "is empty"),
    ({"pruner": "fast", "train.lr": {"low": 0.1, "high": 1}},
     "pruner must be one of median, hyperband, none, got 'fast'"),
])
def test_a_malformed_space_is_one_line_naming_the_problem(raw, message):
    with pytest.raises(UserError, match=message) as err:
        parse_space(raw, PARAMS, "space.yaml")
    assert "\n" not in str(err.value)


def test_the_space_file_names_the_pruner_median_by_default(tmp_path):
    for text, pruner in (("", "median"), ("pruner: hyperband\n", "hyperband"), ("pruner: none\n", "none")):
        (tmp_path / "space.yaml").write_text(text + "train.lr: {low: 0.1, high: 1.0}\n")
        assert load_pruner(tmp_path / "space.yaml") == pruner
        assert set(load_space(tmp_path / "space.yaml", PARAMS)) == {"train.lr"}
    assert isinstance(make_pruner("median"), optuna.pruners.MedianPruner)
    assert isinstance(make_pruner("hyperband"), optuna.pruners.HyperbandPruner)
    assert isinstance(make_pruner("none"), optuna.pruners.NopPruner)


def test_a_missing_or_unreadable_space_file(tmp_path):
    with pytest.raises(UserError, match="cannot read search space"):
        load_space(tmp_path / "missing.yaml", PARAMS)
    bad = tmp_path / "bad.yaml"
    bad.write_text("train.lr: {low: 0.1, high: [\n")
    with pytest.raises(UserError, match="is not valid YAML"):
        load_space(bad, PARAMS)


@pytest.mark.parametrize(("raw", "message"), [
    ({"train.lr": {"low": -1, "high": 1}},
     "train.lr: low -1.0 fails the params checks: train.lr must be > 0, got -1.0"),
    ({"train.epochs": {"low": 1.5, "high": 3.0}},
     "train.epochs: an int range needs whole-number ends, got 1.5 and 3.0"),
    ({"train.epochs": {"low": 1, "high": 3, "type": "float"}},
     "train.epochs: low 1.0 fails the params checks: train.epochs must be of type int, got 1.0"),
    ({"train.scheduler": {"choices": ["linear", "bogus"]}}, "train.scheduler: choice 'bogus' fails the params checks: "
     "train.scheduler 'bogus' is not one of: multistep, cosine, linear, onecycle"),
    ({"train.label_smoothing": {"low": 0, "high": 1}},
     r"train.label_smoothing: high 1.0 fails the params checks: train.label_smoothing must be in [0, 1), got 1.0"),
    ({"train.nesterov": {"low": 0, "high": 1}},
     "train.nesterov: low 0 fails the params checks: train.nesterov must be of type bool, got 0"),
    ({"train.flip": {"choices": ["none", "a\nb"]}},
     r"train.flip: choice 'a\nb' fails the params checks: train.flip 'a b' is not one of: none, random, alternate"),
    # A rule across fields, with the project's other values (train.epochs 1) and the space's.
    ({"train.warmup_epochs": {"low": 0, "high": 3}}, "train.warmup_epochs: high 3.0 fails the params checks: "
     "train.warmup_epochs must be in [0, train.epochs), got 3.0"),
    ({"train.warmup_epochs": {"low": 0, "high": 3}, "train.epochs": {"low": 1, "high": 3}},
     "train.warmup_epochs: high 3.0 fails the params checks: train.warmup_epochs must be in [0, train.epochs), "
     "got 3.0"),
    ({"train.lr": {"low": 0.1, "high": 1.0e+400}}, "train.lr: low and high must be finite numbers"),
    ({"train.lr": {"low": float("nan"), "high": 1}}, "train.lr: low and high must be finite numbers"),
    ({"train.lr": {"low": 0.1, "high": 10**400}}, "train.lr: low and high must be finite numbers"),
    ({"train.epochs": {"low": 1, "high": 2**60}}, r"train.epochs: an int range's ends must lie within ±2\*\*53"),
    ({"train.lr": {"low": True, "high": 2}}, "train.lr: low and high must be numbers, got True and 2"),
    ({"train.lr": {"low": "1e-3", "high": 1}}, "train.lr: low and high must be numbers, got '1e-3' and 1$"),
    ({"train.lr": {"low": 0.1, "high": 1, 3: 4}},
     r"train.lr: a range needs low and high .* got \['3', 'high', 'low'\]"),
    ({1: {"low": 0.1, "high": 1}, "x": {}}, "search space space.yaml: 1, x not in params.yaml"),
])
def test_each_end_and_choice_is_checked_as_params_yaml_would_check_it(raw, message):
    with pytest.raises(UserError) as err:
        parse_space(raw, PARAMS, "space.yaml")
    assert str(err.value).splitlines() == [str(err.value)]
    assert str(err.value) == message or re.match(message, str(err.value)), str(err.value)


def test_a_range_draws_what_its_parameter_holds_unless_its_type_says_otherwise():
    space = parse_space({"train.epochs": {"low": 1.0, "high": 3.0}, "train.weight_decay": {"low": 0, "high": 1},
                         "train.lr": {"low": 1, "high": 8, "log": True, "type": "int"}}, PARAMS, "space.yaml")
    assert space == {"train.epochs": Range(1, 3, integer=True), "train.weight_decay": Range(0.0, 1.0),
                     "train.lr": Range(1, 8, log=True, integer=True)}
    ends = [space[key].low for key in ("train.epochs", "train.weight_decay", "train.lr")]
    assert [type(end) for end in ends] == [int, float, int]


def test_an_end_that_a_rule_across_fields_refuses_passes_when_another_dimension_admits_it():
    """Checked alone, beside the project's train.epochs 1, a warmup of 1.5 epochs is refused; the space's own
    epochs admit it. Values that break a rule only together are left to the trial (it fails, with its reason)."""
    both = {"train.epochs": {"low": 2, "high": 8}, "train.warmup_epochs": {"low": 0.5, "high": 1.5}}
    assert parse_space(both, PARAMS, "space.yaml")["train.warmup_epochs"] == Range(0.5, 1.5)
    together = {"train.scheduler": {"choices": ["onecycle"]}, "train.warmup_epochs": {"choices": [0.0]}}
    assert parse_space(together, PARAMS, "space.yaml") == {"train.scheduler": Choices(("onecycle",)),
                                                            "train.warmup_epochs": Choices((0.0,))}


def test_a_space_file_that_is_no_text_or_odd_yaml_is_one_line(tmp_path):
    cases = {b"\xff\xfe\x00binary": "is not UTF-8 text: invalid start byte at byte 0",
             b"train.lr: {low: 0.1, high: 1}\ntrain.lr: {low: 0.2, high: 1}\n": "'train.lr' is given twice at line 2",
             b"train.lr: {low: 0.1, low: 0.2, high: 1}\n": "'low' is given twice",
             b"train.lr: {low: 0.1, high: !!timestamp 2001-13-45}\n": "a value it cannot read (month must be in",
             b"train.lr: {low: 0.1, high: " + b"1" * 5000 + b"}\n": "a value it cannot read (Exceeds the limit",
             b"[" * 5000 + b"]" * 5000: "is nested too deeply to read",
             b"a\x00b": "is not valid YAML: unacceptable character #x0000"}
    for number, (content, message) in enumerate(cases.items()):
        path = tmp_path / f"{number}.yaml"
        path.write_bytes(content)
        with pytest.raises(UserError) as err:
            load_space(path, PARAMS)
        assert message in str(err.value) and str(path) in str(err.value), str(err.value)
        assert str(err.value).splitlines() == [str(err.value)]


# The fuzz test's material: space files that a person or a broken tool might write.
ODD_FILES = [
    "", "~", "null", "[]", "- train.lr\n- 1", "3", "'text'", "train.lr", "{}", "train.lr:", "train.lr: ~",
    "train: {lr: {low: 0.1, high: 1}}", "train.lr: {low: 0.1, high: 1}\ntrain: {epochs: 2}",
    "? [a, b]\n: 1", "? {a: 1}\n: 2", "1: {low: 0, high: 1}", "null: {choices: [a]}", "true: 1", ".inf: 2",
    "train.lr: !!python/object:os.system {}", "train.lr: !!binary aGVsbG8=", "!!binary aGVsbG8=: 1",
    "train.lr: !!set {low, high}", "train.lr: !!omap [{low: 0.1}, {high: 1}]", "train.lr: !!str 0.5",
    "train.lr: {low: !!float abc, high: 1}", "train.lr: {low: !!int 0xZZ, high: 1}",
    "train.lr: {low: !!timestamp x, high: 1}",
    "train.lr: {low: 0x1, high: 0o7}", "train.epochs: {low: 0b1, high: 1_000}", "train.epochs: {low: 1, high: 1:30}",
    "base: &b {low: 0.1, high: 1}\ntrain.lr: *b", "train.lr: &b {low: 0.1, high: 1}\ntrain.weight_decay: *b",
    "train.lr: &a [*a]", "train.lr: &a {low: *a, high: 1}", "train.lr: {<<: {low: 0.1}, high: 1}",
    "train.lr: {<<: 1, high: 1}", "train.lr: *nowhere", "train.lr: {low: 0.1, high: 1}\n---\ntrain.lr: {}",
    "a: &a [x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c]\ntrain.flip: {choices: [*d, *d]}",
    "train.lr: {low: .inf, high: .inf}", "train.lr: {low: -.inf, high: 1}", "train.lr: {low: .nan, high: .nan}",
    "train.lr: {low: 1.0e+400, high: 1.0e+401}", "train.lr: {low: 1e-3, high: 1}", "train.lr: {low: 0.1, high: 1e400}",
    "train.epochs: {low: 1, high: 99999999999999999999999999999999}", "train.epochs: {low: 1.0e+20, high: 1.0e+21}",
    "train.lr: {low: true, high: 1}", "train.lr: {low: 0, high: 1, log: true}", "train.lr: {low: 1, high: 1}",
    "train.lr: {low: 0.5, high: 0.1, log: yes}", "train.lr: {low: 0.1, high: 1, log: 1}", "train.lr: {choices: []}",
    "train.lr: {choices: [0.1, 1, true, null, a]}", "train.lr: {choices: [0.1, 0.1]}", "train.lr: {choices: [.nan]}",
    "train.flip: {choices: [none, 1]}", "train.flip: {choices: none}", "train.flip: {choices: [[none]]}",
    "train.milestones: {choices: [3]}", "train.early_image_sizes: {low: 8, high: 16}", "seed: {low: -5, high: 5}",
    "seed: {low: 0, high: 9007199254740993}", "train.device: {choices: [cpu, 'cuda:0', 'cuda:x']}",
    "train.nproc: {low: 1, high: 4}", "data.val_size: {low: 1000, high: 60000}", "model.arch: {choices: [resnet9]}",
    "train.lr: {low: 0.1, high: 1, type: int}", "train.lr: {low: 0.1, high: 1, type: [int]}",
    "train.lr: {low: 0.1, high: 1, type: null}", "train.lr: {low: 0.1, high: 1, step: 0.1}",
    "train.lr: {low: [0.1], high: 1}", "train.lr: {low: {a: 1}, high: 1}", "train.lr: {low: 2001-01-01, high: 1}",
    "\ufefftrain.lr: {low: 0.1, high: 1}", "train.lr:\t{low: 0.1, high: 1}", "'train.lr\\n': {low: 0.1, high: 1}",
    '"train.lr\\u2028": {low: 0.1, high: 1}', "train.lr: {low: 0.1, high: 1}  # fine",
]
VALUES = [-1, 0, 1, 2, 3, 8, 0.0, 0.1, 0.5, 0.9999, 1.5, 1e-3, 10**30, 10**400, float("inf"), float("nan"), True,
          False, None, "a", "random", "int", "float", "low", [], [1, 2], {}, {"low": 1}]


def random_space(rng, keys: list) -> dict:
    """A space whose keys and specs are drawn from plausible and implausible pieces (hypothesis-like, by hand)."""
    def spec():
        kind = rng.random()
        if kind < 0.3:
            low, high = rng.choice(VALUES), rng.choice(VALUES)
            return {"low": low, "high": high, **rng.choice([{}, {"log": rng.choice([True, False, 1])},
                                                            {"type": rng.choice(["int", "float", "complex"])}])}
        if kind < 0.5:
            return {"choices": rng.sample(VALUES, rng.randint(0, 4))}
        if kind < 0.9:  # near misses: a low below high, the right shape
            low = rng.choice([0, 0.01, 1, 2, 0.3])
            return {"low": low, "high": low + rng.choice([1, 0.5, 3, 20, 0.25])}
        return rng.choice(VALUES)
    return {rng.choice(keys): spec() for _ in range(rng.choice([0, 1, 1, 2, 2, 3]))}


def check_one_line_or_space(path: Path, raw=None) -> bool:
    """True for a valid space, which its trials can draw from; False for a one-line UserError naming the file or
    the key. Anything else (a traceback) fails the test, quoting the input."""
    shown_input = repr(raw) if raw is not None else repr(path.read_bytes()[:300])
    try:
        space = parse_space(raw, PARAMS, str(path)) if raw is not None else load_space(path, PARAMS)
    except UserError as err:
        message = str(err)
        assert message.splitlines() == [message], (shown_input, message)
        assert str(path) in message or message.split(":")[0] in PARAM_KEYS, (shown_input, message)
        return False
    except Exception as err:  # the failure this test is here to find
        pytest.fail(f"{shown_input}: {type(err).__name__}: {err}")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(3):
        values = suggest(study.ask(), space)
        assert set(values) == set(space), shown_input
    return True


PARAM_KEYS = sorted(param_keys())


def test_any_space_file_is_a_valid_space_or_one_line(tmp_path):
    rng = random.Random(40)
    numbers = ["train.lr", "train.epochs", "train.weight_decay", "train.label_smoothing", "seed", "train.momentum"]
    keys = [*rng.sample(PARAM_KEYS, 8), *numbers, *numbers, "train.flip", "train.lrr", "", 1, None, True]
    files = [text.encode() for text in ODD_FILES]
    files += [bytes(rng.randrange(256) for _ in range(rng.randint(0, 60))) for _ in range(60)]
    pieces = "train.lr: {low,high}[]01.-e+\n'\"&*!"
    files += ["".join(rng.choice(pieces) for _ in range(40)).encode() for _ in range(60)]
    raws = [random_space(rng, keys) for _ in range(250)]
    files += [yaml.safe_dump(raw).encode() for raw in raws]
    outcomes = []
    for number, content in enumerate(files):
        path = tmp_path / f"space{number}.yaml"
        path.write_bytes(content)
        outcomes.append(check_one_line_or_space(path))
    outcomes += [check_one_line_or_space(tmp_path / "direct.yaml", raw) for raw in raws if raw]
    assert 20 < sum(outcomes) < len(outcomes) - 300, sum(outcomes)  # both kinds of answer, many of each


def test_the_shipped_space_is_valid_and_spans_the_defaults():
    space = load_space(REPO / "recipes/search/defaults.yaml", PARAMS)
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
    space = parse_space(SPACE, PARAMS, "space.yaml")
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
                           "-S", "train.flip='none'", "-S", "train.epochs=2", "evaluate"]
    assert exp_run_command("defaults-7", {}, target="plot")[-1] == "plot"  # --through plot: the whole pipeline
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
                max_failures: int | None = None, epochs: int = 1, pruner: str = "none") -> Search:
    """A search of one lr range whose experiments are not run: each trial's value is its lr, and the experiments
    named in `failing` fail with the reason given. Each trial trains `epochs` epochs, telling the search after each
    as the train stage does: validation accuracy lr * epoch / epochs."""
    def fake_run_trial(name, params, log, watch, target=TARGET, feed=None):
        watch()
        if name in (failing or {}):
            return Outcome(None, None, failing[name])
        for epoch in range(1, epochs + 1):
            with open(feed, "a") as told:
                told.write(json.dumps({"epoch": epoch, "epochs": epochs,
                                       "val_acc": params["train.lr"] * epoch / epochs}) + "\n")
            watch()
        return Outcome(value=params["train.lr"], test_accuracy=params["train.lr"] / 2, failure=None)

    monkeypatch.setattr(runner, "run_trial", fake_run_trial)
    space = parse_space({"train.lr": {"low": 0.1, "high": 0.9}}, PARAMS, "s.yaml")
    study = open_study("s", f"sqlite:///{tmp_path}/s.db", seed=0, pruner=make_pruner(pruner))
    return Search(study, space, total, max_failures=max_failures or total, logs=tmp_path / "logs", pruner=pruner,
                  feeds=tmp_path / "epochs")


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


def test_a_space_whose_dimension_changed_kind_since_the_study_began_is_one_line(tmp_path, monkeypatch):
    fake_search(tmp_path, monkeypatch, 1).run()  # train.lr from a range
    search = fake_search(tmp_path, monkeypatch, 2)
    search.space = parse_space({"train.lr": {"choices": [0.1, 0.2]}}, PARAMS, "s.yaml")
    with pytest.raises(UserError, match=r"^the space file's kinds of dimension differ from those the study s began "
                                        r"with \(.*\): give this space a study of its own \(--study NAME\)$"):
        search.run()
    assert [t.state.name for t in search.study.get_trials()] == ["COMPLETE", "FAIL"]


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

    def interrupted_second(name, params, log, watch, target=TARGET, feed=None):
        if name == "s-1":
            raise KeyboardInterrupt
        return real(name, params, log, watch, target, feed)

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

    def database_lost_during_second(name, params, log, watch, target=TARGET, feed=None):
        if name == "s-1":
            search.study._storage._backend.lost = lost  # as the heartbeat records it
        return real(name, params, log, watch, target, feed)

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
    monkeypatch.setattr(trial, "STOP_SECONDS", 3)  # time for a process that hears Ctrl-C to end, on a busy machine
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
    paths = save_search_figures(table, {"train.lr": True}, "best.val_acc", tmp_path / "figures",
                                importances(search.study), epoch_curves(search.study))
    assert [p.name for p in paths] == ["best_so_far.png", "parameters.png", "importances.png", "epochs.png"]
    assert all(p.stat().st_size > 1000 for p in paths)
    choices = table.assign(**{"train.flip": ["none", "random", "none"]})
    figure = parameters_figure(choices, {"train.lr": True, "train.flip": False}, "best.val_acc")
    figure.canvas.draw()
    assert [label.get_text() for label in figure.axes[1].get_xticklabels()] == ["none", "random"]
    plt.close(figure)
    empty = save_search_figures(table.iloc[:0], {"train.lr": False}, "best.val_acc", tmp_path / "empty", {}, {})
    assert len(empty) == 4 and all(p.is_file() for p in empty)


def test_the_epochs_a_run_tells_are_read_whole_once_each_in_order(tmp_path, monkeypatch):
    feed = tmp_path / "feed.jsonl"
    monkeypatch.delenv(FEED_VARIABLE, raising=False)
    tell_epoch(EpochReport(1, 3, 0.5))  # nobody watching: nothing written anywhere
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv(FEED_VARIABLE, str(feed))
    for report in (EpochReport(1, 3, 0.5), EpochReport(2, 3, 0.6), EpochReport(1, 3, 0.5), EpochReport(2, 3, 0.625)):
        tell_epoch(report)  # the last two: a resumed run telling its epochs again
    with open(feed, "a") as told:
        told.write('not a report\n{"epoch": 1}\n{"epoch": 3, "epochs": 3, "val')  # junk, then a line half-written
    assert read_epochs(feed) == [EpochReport(1, 3, 0.5), EpochReport(2, 3, 0.625)]
    assert read_epochs(tmp_path / "never-written.jsonl") == []


# Three complete trials whose validation accuracy at epochs 1, 2, 3 has the medians 0.4, 0.6 and 0.8.
COMPLETE_CURVES = [(0.3, 0.5, 0.7), (0.4, 0.6, 0.8), (0.5, 0.7, 0.9)]


def study_with_curves(tmp_path, rule: str, curves) -> optuna.Study:
    study = open_study("p", f"sqlite:///{tmp_path}/p.db", seed=0, pruner=make_pruner(rule))
    for n, curve in enumerate(curves):
        study.add_trial(optuna.trial.create_trial(
            params={"train.lr": 0.1 * (n + 1)}, distributions={"train.lr": optuna.distributions.FloatDistribution(
                0.01, 1.0)}, value=curve[-1], intermediate_values=dict(enumerate(curve, 1))))
    return study


def watch_told(study: optuna.Study, rule: str, folder: Path, told: list[float], epochs: int = 3) -> EpochWatch:
    """The watch of a new trial whose run has told `told`, called once."""
    trial = study.ask()
    feed = folder / f"{trial.number}.jsonl"
    feed.write_text("".join(json.dumps({"epoch": e, "epochs": epochs, "val_acc": v}) + "\n"
                            for e, v in enumerate(told, 1)))
    watch = EpochWatch(trial, feed, rule)
    watch()
    return watch


@pytest.mark.parametrize(("told", "pruned_at", "reason"), [
    ([0.35], 1, "best val_acc so far 0.3500, below the median 0.4000 of 3 complete trials at epoch 1"),
    ([0.45, 0.55], 2, "best val_acc so far 0.5500, below the median 0.6000 of 3 complete trials at epoch 2"),
    ([0.45, 0.65, 0.1], None, None),  # below the median only at the last epoch: never pruned there
    ([0.65, 0.55], None, None),  # the median rule weighs the best so far: 0.65 beats epoch 2's median
])
def test_the_median_rule_prunes_below_the_complete_trials_median_at_the_same_epoch(tmp_path, told, pruned_at, reason):
    study = study_with_curves(tmp_path, "median", COMPLETE_CURVES)
    if pruned_at is None:
        watch = watch_told(study, "median", tmp_path, told)
        assert study.trials[-1].intermediate_values == dict(enumerate(told, 1))  # every epoch reported
        assert [e.epoch for e in watch.told] == list(range(1, len(told) + 1))
        return
    with pytest.raises(Pruned) as stop:
        watch_told(study, "median", tmp_path, told)
    assert (stop.value.epoch, stop.value.epochs, stop.value.reason) == (pruned_at, 3, reason)
    assert str(stop.value) == f"at epoch {pruned_at} of 3: {reason}"
    assert study.trials[-1].intermediate_values == dict(enumerate(told[:pruned_at], 1))


def test_no_trial_is_pruned_before_enough_complete_or_when_the_space_says_none(tmp_path):
    (tmp_path / "few").mkdir(), (tmp_path / "none").mkdir()
    watch_told(study_with_curves(tmp_path / "few", "median", COMPLETE_CURVES[:2]), "median", tmp_path, [0.01])
    watch_told(study_with_curves(tmp_path / "none", "none", COMPLETE_CURVES), "none", tmp_path, [0.01, 0.01])


def test_a_search_prunes_the_trials_the_median_rule_names_and_counts_the_epochs_saved(tmp_path, monkeypatch,
                                                                                        capsys):
    search = fake_search(tmp_path, monkeypatch, 8, epochs=3, pruner="median")
    search.run()
    out = capsys.readouterr().out
    trials = search.study.get_trials()
    # The rule by hand: each trial's epoch-1 accuracy (lr / 3) against the median of the trials complete before it.
    expected, complete_lrs = [], []
    for t in trials:
        lr = t.params["train.lr"]
        prune = len(complete_lrs) >= 3 and lr / 3 < statistics.median(x / 3 for x in complete_lrs)
        expected.append("PRUNED" if prune else "COMPLETE")
        if not prune:
            complete_lrs.append(lr)
    assert [t.state.name for t in trials] == expected and "PRUNED" in expected
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    for t in pruned:
        assert t.intermediate_values == {1: pytest.approx(t.params["train.lr"] / 3)}
        assert t.user_attrs[PRUNED].startswith("at epoch 1 of 3: best val_acc so far ")
        assert f"trial {t.number} pruned at epoch 1 of 3: best val_acc so far " in out
    text = summary(search.study, 1000, 3)
    trained = 3 * (8 - len(pruned)) + len(pruned)
    assert f"epochs trained: {trained} of the 24 that 8 finished trials would train (pruning saved " in text
    assert f"study s: {8 - len(pruned)} complete, 0 failed, {len(pruned)} pruned, 0 running" in text
    assert best(search.study).state.name == "COMPLETE"
    curves = epoch_curves(search.study)
    assert {n for n, (_, was_pruned) in curves.items() if was_pruned} == {t.number for t in pruned}
    assert all(len(values) == 3 for values, was_pruned in curves.values() if not was_pruned)
    assert not list((tmp_path / "epochs").iterdir())  # each trial's feed removed once it ended


def test_the_summary_names_each_parameters_importance(tmp_path, monkeypatch):
    search = fake_search(tmp_path, monkeypatch, 1)
    search.run()
    assert "importance: needs at least two complete trials" in summary(search.study)
    search.total = 3
    search.run()
    assert importances(search.study) == {"train.lr": 1.0}  # the only parameter explains all the variance
    text = summary(search.study)
    assert "importance (fANOVA over 3 complete trials, share of the variance of best.val_acc" in text
    assert "  train.lr: 1.00" in text


# End to end: searches on the tiny pipeline, each trial a real `dvc exp run`. One project serves the steps of a
# scenario; each study has its own name, so the steps do not see each other's trials.
LR_SPACE = "pruner: none\ntrain.lr: {low: 0.005, high: 0.05, log: true}\n"  # pruning: PRUNE_SPACE's tests
# A learning rate that learns and one that cannot, under the default pruner (median). Drawn at random for the first
# trials, by a sampler seeded per trial number: --seed 136 draws them good, good, good, hopeless (trials 0 to 3), and
# --seed 117 good four times, then hopeless twice. The repeats of a good one are restored by DVC's run-cache.
GOOD_LR, HOPELESS_LR = 0.05, 1.0e-6
PRUNE_SPACE = f"train.lr: {{choices: [{GOOD_LR}, {HOPELESS_LR:.1e}]}}\n"
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
    (root / "prune.yaml").write_text(PRUNE_SPACE)
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
def test_a_search_leaves_its_trials_as_experiments_and_the_workspace_as_it_was(search_project):
    project, space = search_project, str(search_project.parent / "lr.yaml")
    before = fingerprint(project)
    shown = search(project, space, "--trials", "2", "--study", "lr").stdout
    names = {name for name in experiments(project) if name.startswith("lr-")}
    assert names == {"lr-0", "lr-1"}, shown
    assert fingerprint(project) == before  # the workspace as the search found it
    assert "study lr: 2 complete, 0 failed, 0 pruned, 0 running" in shown
    best = (r"best: trial \d \(lr-\d\) best.val_acc [01]\.\d{4} ± 0\.\d{4} \(1 standard error, "
            rf"{TINY['val_size']} images\) \(test accuracy [01]\.\d{{4}}, for information")
    assert re.search(best, shown)
    assert len(re.findall(r"^trial \d best.val_acc [01]\.\d{4} \(\d+ s\)$", shown, re.M)) == 2
    figures = ("best_so_far.png", "parameters.png", "importances.png", "epochs.png")
    assert all((project / ".search/lr" / f).stat().st_size > 0 for f in figures)


@pytest.mark.e2e
def test_a_trial_the_config_rejects_is_recorded_failed_with_its_reason(search_project):
    space = search_project.parent / "bad.yaml"
    # Each value passes the space's checks alone (beside the project's linear schedule and 0.25 warmup epochs);
    # together they break a rule across fields, which only the trial's own params.yaml meets.
    space.write_text("train.scheduler: {choices: [onecycle]}\ntrain.warmup_epochs: {choices: [0.0]}\n")
    result = search(search_project, str(space), "--trials", "1", "--max-failures", "1", check=False)
    assert result.returncode == 2 and result.stderr.startswith("error: stopped after 1 failed trials"), result
    reason = "train.scheduler 'onecycle' needs train.warmup_epochs > 0 (the length of its rising phase)"
    assert re.search(rf"^trial 0 fail: {re.escape(reason)} \(\d+ s\)$", result.stdout, re.M), result.stdout
    study = optuna.load_study(study_name="bad", storage=f"sqlite:///{search_project}/.search/bad.db")
    assert [t.state.name for t in study.trials] == ["FAIL"]
    assert study.trials[0].user_attrs[FAILURE] == reason
    assert not any(name.startswith("bad-") for name in experiments(search_project))


def pruned_cleanly(project: Path, study_name: str, shown: str) -> list[optuna.trial.FrozenTrial]:
    """The study's pruned trials, checked: each a hopeless one, stopped after epoch 1 of 2 with its line in the
    output, and no experiment, temporary copy or process left of it."""
    study = optuna.load_study(study_name=study_name, storage=f"sqlite:///{project}/.search/{study_name}.db")
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    assert pruned and all(t.params["train.lr"] == HOPELESS_LR for t in pruned), shown
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert all(t.params["train.lr"] == GOOD_LR and len(t.intermediate_values) == 2 for t in complete)
    for t in pruned:
        assert list(t.intermediate_values) == [1], t.intermediate_values
        line = rf"^trial {t.number} pruned at epoch 1 of 2: best val_acc so far [01]\.\d{{4}}, below the median "
        assert re.search(line + r"[01]\.\d{4} of \d complete trials at epoch 1 \(\d+ s\)$", shown, re.M), shown
    assert not {t.user_attrs["experiment"] for t in pruned} & set(experiments(project))
    assert list((project / ".dvc/tmp/exps").glob("standalone/tmp*")) == []  # DVC's temporary copies
    assert processes_in(project / ".dvc/tmp/exps") == {}
    return pruned


@pytest.mark.e2e
def test_a_rerun_adds_trials_and_one_whose_learning_rate_cannot_learn_is_pruned_after_its_first_epoch(
        search_project):
    space, before = str(search_project.parent / "prune.yaml"), fingerprint(search_project)
    search(search_project, space, "--trials", "3", "--study", "prune", "--seed", "136")
    # Trials 1 and 2 repeat trial 0's learning rate: DVC's run-cache restores them, and their curves are read back.
    for number in (1, 2):
        log = (search_project / f".search/logs/prune-{number}.log").read_text()
        assert "Stage 'train' is cached - skipping run" in log, log
    shown = search(search_project, space, "--trials", "4", "--study", "prune", "--seed", "136").stdout
    assert [t.number for t in pruned_cleanly(search_project, "prune", shown)] == [3]
    assert "study prune: 3 complete, 0 failed, 1 pruned, 0 running" in shown
    assert "epochs trained: 7 of the 8 that 4 finished trials would train (pruning saved 12%)" in shown
    assert {name for name in experiments(search_project) if name.startswith("prune-")} == {"prune-0", "prune-1",
                                                                                           "prune-2"}
    assert fingerprint(search_project) == before


@pytest.mark.e2e
def test_two_searches_on_one_study_never_run_the_same_trial_and_both_prune(search_project):
    command = [sys.executable, "-m", "resnet_cifar.tools.search", str(search_project.parent / "prune.yaml"),
               "--trials", "6", "--study", "pair", "--seed", "117"]
    workers = [subprocess.Popen(command, cwd=search_project, env=command_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [worker.communicate() for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    started = [re.findall(r"^trial (\d+) \(pair-\1\) running", out, re.M) for out, _ in outputs]
    assert all(started) and not set(started[0]) & set(started[1]), outputs  # each ran some, none twice
    study = optuna.load_study(study_name="pair", storage=f"sqlite:///{search_project}/.search/pair.db")
    assert len(study.trials) == 6  # the total asked for, no more
    pruned = pruned_cleanly(search_project, "pair", outputs[0][0] + outputs[1][0])
    assert [t.number for t in pruned] == [4, 5]
    names = {name for name in experiments(search_project) if name.startswith("pair-")}
    assert names == {f"pair-{n}" for n in range(4)}


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
    """A search whose first trial blocks in training (BLOCK_AFTER_FIRST_SAVE), and the file that says it got there.
    Its sampler's seed is its own (from `name`): the module's other searches ran seed 0's first draws, which DVC's
    run-cache would restore instead of training."""
    env, marker, _ = hooked_env(project.parent / name, BLOCK_AFTER_FIRST_SAVE)
    seed = str(1000 + zlib.crc32(name.encode()) % 1000)
    command = [sys.executable, "-m", "resnet_cifar.tools.search", str(project.parent / "lr.yaml"), "--study", name,
               "--trials", "1", "--seed", seed, *args]
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
