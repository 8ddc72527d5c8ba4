"""The one-screen comparison of experiments (resnet_cifar.tools.compare)."""
import io
import json
import sys

import pandas as pd
import pytest

from resnet_cifar.tools.compare import comparison, render

from conftest import run

# The shape of `dvc exp show --csv`: the baseline's row, then its experiments; a queued one has no results yet.
EXP_SHOW = """\
Experiment,rev,typ,Created,parent,State,Executor,accuracy,loss,ece,best.val_acc,best.epoch,time.train_seconds,\
time.images_per_sec,model.arch,model.zero_init_residual,train.epochs,train.batch_size,train.lr,data.train_size,\
data.url,stages/train.py
,workspace,baseline,,,,,0.31,1.9,0.1,0.3,1,60.5,16.5,resnet18,False,1,128,0.1,1000,file:///a.tar.gz,abc
,main,baseline,2026-11-27T09:00:00,,,,0.31,1.9,0.1,0.3,1,60.5,16.5,resnet18,False,1,128,0.1,1000,file:///a.tar.gz,abc
sated-tarp,9f1022f,branch_commit,2026-11-27T09:10:00,main,Success,,0.355,1.8123456,0.1,0.36,2,301.25,6.6,resnet34,\
False,2,128,0.05,1000,file:///a.tar.gz,abc
ridgy-sacs,2577c2b,branch_commit,2026-11-27T09:05:00,main,Success,,0.2,2.1,0.1,0.25,1,55.0,18.2,resnet18,False,1,\
64,0.2,1000,file:///a.tar.gz,abc
queued-one,1234567,branch_base,2026-11-27T09:20:00,main,Queued,,,,,,,,,resnet50,False,1,128,0.1,1000,\
file:///a.tar.gz,abc
"""
HEADERS = ["experiment", "arch", "ep", "lr", "batch", "n_train", "test_acc", "test_loss", "best_val", "train_s",
           "img/s"]


def exp_show(text: str = EXP_SHOW) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text))


def test_rows_with_results_best_test_accuracy_first_under_short_headers():
    frame, without = comparison(exp_show())
    assert list(frame.columns) == HEADERS
    assert list(frame["experiment"]) == ["sated-tarp", "main", "ridgy-sacs"]  # the workspace repeats main
    assert without == 1  # the queued experiment
    assert frame.iloc[0].to_dict() == {
        "experiment": "sated-tarp", "arch": "resnet34", "ep": 2, "lr": 0.05, "batch": 128, "n_train": 1000,
        "test_acc": 0.355, "test_loss": 1.8123456, "best_val": 0.36, "train_s": 301.25, "img/s": 6.6}


def test_a_workspace_with_other_results_than_its_baseline_is_a_row():
    text = EXP_SHOW.replace(",workspace,baseline,,,,,0.31,", ",workspace,baseline,,,,,0.33,")
    frame, _ = comparison(exp_show(text))
    assert list(frame["experiment"]) == ["sated-tarp", "workspace", "main", "ridgy-sacs"]


def test_values_dvc_could_not_read_count_as_missing():
    row = "ridgy-sacs,2577c2b,branch_commit,2026-11-27T09:05:00,main,Success,,"
    text = EXP_SHOW.replace(row + "0.2,2.1,0.1,0.25,1,55.0", row + "!,2.1,0.1,0.25,1,!")
    frame, without = comparison(exp_show(text))
    assert list(frame["experiment"]) == ["sated-tarp", "main"] and without == 2
    assert render(frame).splitlines()[1].split()[0] == "sated-tarp"


def test_columns_missing_from_an_old_commit_are_blank():
    table = exp_show().drop(columns=["best.val_acc", "time.images_per_sec"])
    frame, _ = comparison(table)
    assert list(frame.columns) == HEADERS and frame["best_val"].isna().all()
    assert "  -" in render(frame)


def test_render_fits_120_columns_and_rounds():
    frame, _ = comparison(exp_show())
    text = render(frame)
    lines = text.splitlines()
    assert lines[0].split() == HEADERS and max(map(len, lines)) <= 120
    assert "1.8123" in lines[1] and "1.8123456" not in text and "301.2" in lines[1]
    long = frame.assign(experiment=["x" * 150, "main", "y" * 90])
    lines = render(long).splitlines()
    assert max(map(len, lines)) <= 120 and lines[1].lstrip().startswith("xxx") and "~" in lines[1]
    assert render(long, width=300).count("x" * 150) == 1


@pytest.mark.e2e
def test_compare_after_a_two_experiment_sweep(finished_project, tmp_path):
    """A sweep of two experiments on the tiny pipeline; the command's table is sorted and fits one screen."""
    project = finished_project
    run(project, "git", "add", "-A")
    run(project, "git", "commit", "-qm", "baseline results")
    for lr in ("0.05", "0.01"):
        run(project, "dvc", "exp", "run", "-S", f"train.lr={lr}", "-S", "train.epochs=1")
    csv = tmp_path / "compare.csv"
    shown = run(project, sys.executable, "-m", "resnet_cifar.tools.compare", "--csv", str(csv)).stdout
    lines = shown.splitlines()
    assert max(map(len, lines)) <= 120, shown
    assert lines[0].split() == HEADERS
    table = pd.read_csv(csv)
    assert list(table.columns) == HEADERS
    assert "main" in set(table["experiment"])
    assert list(table["test_acc"]) == sorted(table["test_acc"], reverse=True)
    assert sorted(table["lr"]) == [0.01, 0.02, 0.05]  # the workspace repeats the last experiment: not a row
    assert [line.split()[0] for line in lines[1:len(table) + 1]] == list(table["experiment"])
    names = {exp["name"] for row in json.loads(run(project, "dvc", "exp", "show", "--json").stdout)
             for exp in row.get("experiments") or []}
    assert len(names) == 2 and names <= set(table["experiment"])
    # -A also lists the experiments of other commits: here the same ones, as there is only one baseline.
    every = run(project, sys.executable, "-m", "resnet_cifar.tools.compare", "-A").stdout
    assert names <= {line.split()[0] for line in every.splitlines()[1:]}
