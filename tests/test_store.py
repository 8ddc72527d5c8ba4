"""The one reader of DVC's experiments (resnet_cifar.experiments.store), and the newcomer's path through it: a
fresh clone whose workspace never ran the pipeline, a 2-trial search, then compare and --versus on its trials."""
import io
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from cifar_archive import write_archive
from project import TINY, TINY_ROBUSTNESS, make_project, run, set_params
from resnet_cifar.experiments.store import (
    DONE,
    QUEUED,
    Experiment,
    ExperimentStore,
    as_experiment,
    flatten,
    readable,
    without_repeated_workspace,
)


def test_values_are_flattened_to_dotted_keys_and_unreadable_files_give_none():
    assert flatten({"best": {"val_acc": 0.5, "epoch": 2}, "accuracy": 0.4}) == {
        "best.val_acc": 0.5, "best.epoch": 2, "accuracy": 0.4}
    files = {"metrics/evaluate.json": {"data": {"accuracy": 0.4}},
             "metrics/robustness.json": {"error": {"type": "FileNotFoundError", "msg": "gone"}},
             "metrics/train/metrics.json": {"data": {"best": {"val_acc": 0.5}}}}
    assert readable(files) == {"accuracy": 0.4, "best.val_acc": 0.5}
    assert readable(None) == {}
    # A row whose params.yaml DVC has no result for yet (CI: a second search reading the table mid-write).
    assert readable({"params.yaml": None, **files}) == {"accuracy": 0.4, "best.val_acc": 0.5}
    row = {"rev": "abc1234", "data": {"params": {"params.yaml": None}, "metrics": {"m.json": None}}}
    assert as_experiment(row, "exp", "abc1234", DONE).params == {}


def test_a_workspace_that_repeats_another_row_is_left_out():
    main = Experiment("main", "abc", "abc", DONE, params={"train.lr": 0.1}, metrics={"accuracy": 0.3})
    same = Experiment("workspace", "workspace", "workspace", DONE, params={"train.lr": 0.1},
                      metrics={"accuracy": 0.3})
    other = Experiment("workspace", "workspace", "workspace", DONE, params={"train.lr": 0.2},
                       metrics={"accuracy": 0.3})
    assert without_repeated_workspace([same, main]) == [main]
    assert without_repeated_workspace([other, main]) == [other, main]


def test_a_folder_outside_a_project_is_refused(tmp_path):
    from resnet_cifar.errors import UserError

    with pytest.raises(UserError, match="not in a DVC project"):
        ExperimentStore(tmp_path)


@pytest.fixture
def fresh_clone(tmp_path) -> Path:
    """A clone as a newcomer has it: the pipeline pointed at a local archive and committed, nothing run."""
    archive = tmp_path / "cifar-tiny.tar.gz"
    md5 = write_archive(archive)
    project = make_project(tmp_path / "project")
    set_params(project, data={"url": str(archive), "md5": md5, **TINY},
               train={"epochs": 1, "batch_size": 16, "lr": 0.02}, evaluate={"batch_size": 16},
               robustness=TINY_ROBUSTNESS, plot={"grid_size": 8})
    (project / ".gitignore").write_text("/.search/\n")
    (tmp_path / "lr.yaml").write_text("train.lr: {low: 0.005, high: 0.05, log: true}\n")
    run(project, "git", "add", "-A")
    run(project, "git", "commit", "-qm", "my settings")
    return project


@pytest.mark.e2e
def test_a_search_in_a_fresh_clone_leaves_experiments_that_compare_and_versus_read(fresh_clone):
    project = fresh_clone
    search = run(project, sys.executable, "-m", "resnet_cifar.tools.search", "../lr.yaml", "--trials", "2",
                 check=False)
    assert search.returncode == 0 and "Traceback" not in search.stderr, search.stderr
    assert "study lr: 2 complete, 0 failed" in search.stdout, search.stdout
    run(project, "dvc", "exp", "run", "--queue", "-S", "train.lr=0.03")  # queued, never run: not a result
    with ExperimentStore(project) as store:
        shown = {e.name: e for e in store.experiments()}
        predictions = store.read_bytes("lr-0", "results/predictions.npz")
    trials = [shown["lr-0"], shown["lr-1"]]
    assert all(t.finished and 0 <= t.metrics["best.val_acc"] <= 1 for t in trials), shown
    assert trials[0].params["train.lr"] != trials[1].params["train.lr"]
    assert [e.state for e in shown.values() if e.rev != "workspace" and e.name not in ("lr-0", "lr-1")
            and e.baseline != e.rev] == [QUEUED]
    assert "workspace" not in shown  # it never ran: it repeats its baseline commit's row
    with np.load(io.BytesIO(predictions)) as arrays:
        assert len(arrays["labels"]) == TINY["test_size"]
    compare = run(project, sys.executable, "-m", "resnet_cifar.tools.compare", "--runs").stdout
    assert {line.split()[0] for line in compare.splitlines()[1:3]} == {"lr-0", "lr-1"}, compare
    assert "(and 2 without test results" in compare, compare  # the baseline commit and the queued experiment
    versus = run(project, sys.executable, "-m", "resnet_cifar.tools.compare", "--versus", "lr-0", "lr-1").stdout
    assert f"(the same {TINY['test_size']} test images)" in versus and "McNemar" in versus, versus
    # A trial ran what it is scored on, up to evaluate: `dvc exp apply` then `dvc repro` completes it, training
    # nothing again. Here the baseline commit has no results, so apply names the outputs the trial never made.
    assert "accuracy" in trials[0].metrics and not any(key.startswith("corrupted") for key in trials[0].metrics)
    applied = run(project, "dvc", "exp", "apply", "lr-0", check=False)
    listed = applied.stderr[applied.stderr.find("Checkout failed for following targets:"):].splitlines()[1:]
    missing = [line for line in listed if re.fullmatch(r"[\w./-]+", line)]
    assert missing and all(line.split("/")[0] in ("data", "plots", "results", "metrics") for line in missing), applied
    assert not {"models/best.pt", "metrics/evaluate.json", "data/subsets"} & set(missing), applied
    assert yaml.safe_load((project / "params.yaml").read_text())["train"]["lr"] == trials[0].params["train.lr"]
    repro = run(project, "dvc", "repro").stdout
    assert "Stage 'train' didn't change" in repro and "Running stage 'robustness'" in repro, repro
    assert (project / "metrics/robustness.json").is_file() and (project / "plots/tsne.png").is_file()
