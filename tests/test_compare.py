"""The one-screen comparison of experiments (resnet_cifar.tools.compare)."""
import io
import json
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from experiment_rows import from_exp_show_csv
from project import exp_ref, predictions_at, run, workspace_state
from resnet_cifar.engine.device import resolve_precision
from resnet_cifar.engine.provenance import cpu_name, short_device_name
from resnet_cifar.tools.compare import comparison, render
from test_paired import exact_mcnemar

# The shape of `dvc exp show --csv`: the baseline's row, then its experiments; a queued one has no results yet.
EPYC = "AMD EPYC 7B13 64-Core Processor,1,fp32,2.14.1+cu130"
H200 = "NVIDIA H200,2,bf16,2.14.1+cu130"
EXP_SHOW = f"""\
Experiment,rev,typ,Created,parent,State,Executor,accuracy,loss,ece,clean_acc,corrupted_acc,best.val_acc,best.epoch,\
time.train_seconds,time.images_per_sec,run.device_name,run.processes,run.precision,run.torch,model.arch,\
model.zero_init_residual,train.epochs,train.batch_size,train.lr,data.train_size,data.test_size,data.url,stages/train.py
,workspace,baseline,,,,,0.31,1.9,0.1,0.3,0.25,0.3,1,60.5,16.5,{EPYC},resnet18,False,1,128,0.1,1000,1000,file:///a.tar.gz,abc
,main,baseline,2026-11-27T09:00:00,,,,0.31,1.9,0.1,0.3,0.25,0.3,1,60.5,16.5,{EPYC},resnet18,False,1,128,0.1,1000,1000,\
file:///a.tar.gz,abc
sated-tarp,9f1022f,branch_commit,2026-11-27T09:10:00,main,Success,,0.355,1.8123456,0.1,0.34,0.2912345,0.36,2,301.25,\
6.6,{H200},resnet34,False,2,128,0.05,1000,1000,file:///a.tar.gz,abc
ridgy-sacs,2577c2b,branch_commit,2026-11-27T09:05:00,main,Success,,0.2,2.1,0.1,0.2,0.15,0.25,1,55.0,18.2,{EPYC},\
resnet18,False,1,64,0.2,1000,1000,file:///a.tar.gz,abc
queued-one,1234567,branch_base,2026-11-27T09:20:00,main,Queued,,,,,,,,,,,,,,,resnet50,False,1,128,0.1,1000,1000,\
file:///a.tar.gz,abc
"""
HEADERS = ["experiment", "group", "arch", "ep", "lr", "batch", "n_train", "acc", "±", "loss", "c_acc", "best_val",
           "train_s", "img/s", "ran_on"]


def exp_show(text: str = EXP_SHOW) -> list:
    return from_exp_show_csv(text)


def test_rows_with_results_best_test_accuracy_first_under_short_headers():
    frame, without = comparison(exp_show())
    assert list(frame.columns) == HEADERS
    assert list(frame["experiment"]) == ["sated-tarp", "main", "ridgy-sacs"]  # the workspace repeats main
    assert without == 1  # the queued experiment
    assert frame.iloc[0].to_dict() == {
        "experiment": "sated-tarp", "group": 1, "arch": "resnet34", "ep": 2, "lr": 0.05, "batch": 128, "n_train": 1000,
        "acc": 0.355, "±": pytest.approx(0.01513, abs=1e-5),  # sqrt(0.355 * 0.645 / 1000)
        "loss": 1.8123456, "c_acc": 0.2912345, "best_val": 0.36, "train_s": 301.25, "img/s": 6.6,
        "ran_on": "2x H200 bf16 2.14.1"}
    assert frame.iloc[1]["ran_on"] == "EPYC 7B13 fp32 2.14.1"


def test_a_workspace_with_other_results_than_its_baseline_is_a_row():
    text = EXP_SHOW.replace(",workspace,baseline,,,,,0.31,", ",workspace,baseline,,,,,0.33,")
    frame, _ = comparison(exp_show(text))
    assert list(frame["experiment"]) == ["sated-tarp", "workspace", "main", "ridgy-sacs"]


def test_values_dvc_could_not_read_count_as_missing():
    row = "ridgy-sacs,2577c2b,branch_commit,2026-11-27T09:05:00,main,Success,,"
    text = EXP_SHOW.replace(row + "0.2,2.1,0.1,0.2,0.15,0.25,1,55.0", row + "!,2.1,0.1,0.2,!,0.25,1,!")
    frame, without = comparison(exp_show(text))
    assert list(frame["experiment"]) == ["sated-tarp", "main"] and without == 2
    assert render(frame).splitlines()[1].split()[0] == "sated-tarp"


def test_a_running_experiment_is_not_a_row():
    # While it runs, DVC shows an experiment with its baseline's results.
    text = EXP_SHOW.replace("queued-one,1234567,branch_base,2026-11-27T09:20:00,main,Queued,,,,,,,,,,,,,,,",
                            "queued-one,1234567,branch_base,2026-11-27T09:20:00,main,Running,Tempdir,"
                            f"0.31,1.9,0.1,0.3,0.25,0.3,1,60.5,16.5,{EPYC},")
    frame, without = comparison(exp_show(text))
    assert "queued-one" not in set(frame["experiment"]) and without == 1


def test_columns_missing_from_an_old_commit_are_blank():
    # A commit from before the robustness stage has no corrupted accuracy.
    table = pd.read_csv(io.StringIO(EXP_SHOW)).drop(
        columns=["best.val_acc", "time.images_per_sec", "run.device_name", "corrupted_acc"])
    frame, _ = comparison(from_exp_show_csv(table))
    assert list(frame.columns) == HEADERS and frame["best_val"].isna().all() and frame["ran_on"].isna().all()
    assert frame["c_acc"].isna().all()
    assert "  -" in render(frame, width=300)


def test_render_fits_120_columns_and_rounds():
    frame, _ = comparison(exp_show())
    lines = render(frame).splitlines()
    # Too wide for 120 with every column: the lowest-value ones go first, in DROPPABLE's order.
    assert lines[0].split() == [h for h in HEADERS if h not in ("img/s", "loss")] and max(map(len, lines)) <= 120
    text = render(frame, width=300)
    lines = text.splitlines()
    assert lines[0].split() == HEADERS
    assert "1.8123" in lines[1] and "1.8123456" not in text and "301.2" in lines[1]
    assert "0.2912" in lines[1] and "0.2912345" not in text
    long = frame.assign(experiment=["x" * 150, "main", "y" * 90])
    lines = render(long).splitlines()
    assert max(map(len, lines)) <= 120 and lines[1].lstrip().startswith("xxx") and "~" in lines[1]
    assert render(long, width=300).count("x" * 150) == 1


def test_the_dataset_and_labels_lead_the_varied_columns_and_are_never_left_out():
    """Runs on other data are other experiments: where the dataset or its labels differ, the table says which,
    however many other parameters vary (url and md5 vary with the dataset and go first)."""
    table = pd.read_csv(io.StringIO(EXP_SHOW))
    table["data.dataset"] = ["cifar10", "cifar10", "cifar100", "folder", "cifar10"]
    table["data.labels"] = ["fine", "fine", "coarse", "fine", "fine"]
    table["data.url"] = [f"file:///archive-{k}-with-a-long-name.tar.gz" for k in range(5)]
    table["data.md5"] = [f"{k}" * 32 for k in range(5)]
    table["train.scheduler"] = ["linear", "linear", "cosine", "onecycle", "linear"]
    frame, _ = comparison(from_exp_show_csv(table))
    assert list(frame.columns)[7:9] == ["dataset", "labels"]
    assert list(frame.set_index("experiment")["dataset"].loc[["sated-tarp", "ridgy-sacs"]]) == ["cifar100", "folder"]
    lines = render(frame).splitlines()
    assert {"dataset", "labels"} <= set(lines[0].split()) and max(map(len, lines)) <= 120
    assert "url, md5" in lines[-1]  # left out, and said so
    same = comparison(exp_show())[0]
    assert "dataset" not in same.columns  # where every row learned the same data: no column


def values_of(tree, key: str):
    """Every value stored under `key` in a JSON tree."""
    if isinstance(tree, dict):
        for k, v in tree.items():
            if k == key:
                yield v
            yield from values_of(v, key)
    elif isinstance(tree, list):
        for item in tree:
            yield from values_of(item, key)


@pytest.mark.e2e
def test_a_two_by_two_sweep_with_seeds_compares_into_two_groups(finished_project, tmp_path):
    """The issue's scenario on the tiny pipeline: 2 seeds x 2 learning rates queued, run, compared."""
    project = finished_project
    run(project, "git", "add", "-A")
    run(project, "git", "commit", "-qm", "baseline results")
    # Up to evaluate (test accuracy): the stages after it add nothing the table needs here.
    run(project, "dvc", "exp", "run", "--queue", "evaluate", "-S", "seed=range(0,2)", "-S", "train.lr=0.05,0.01",
        "-S", "train.epochs=1")
    run(project, "dvc", "exp", "run", "--run-all", "-j", "2")  # waits, unlike `dvc queue start`
    compare = (sys.executable, "-m", "resnet_cifar.tools.compare")
    csv, runs_csv, png = tmp_path / "groups.csv", tmp_path / "runs.csv", tmp_path / "compare.png"
    shown = run(project, *compare, "--csv", str(csv), "--plot", str(png)).stdout
    lines = shown.splitlines()
    assert max(map(len, lines)) <= 120, shown
    groups = pd.read_csv(csv)
    sweep = groups[groups["lr"].isin([0.05, 0.01])]
    assert len(sweep) == 2 and list(sweep["n"]) == [2, 2], shown  # the baseline (lr 0.02, seed 42) is its own row
    assert list(groups["acc"]) == sorted(groups["acc"], reverse=True)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The groups' numbers, from the experiments' own metrics as DVC reports them.
    shown_json = json.loads(run(project, "dvc", "exp", "show", "--json").stdout)
    experiments = [exp for row in shown_json for exp in row.get("experiments") or []]
    assert len(experiments) == 4
    for _, group in sweep.iterrows():
        accuracies = [values_of_run(exp, "accuracy") for exp in experiments
                      if values_of_run(exp, "lr") == group["lr"]]
        assert len(accuracies) == 2
        assert group["acc"] == pytest.approx(sum(accuracies) / 2)
        assert group["sd"] == pytest.approx(abs(accuracies[0] - accuracies[1]) / 2 ** 0.5)  # ddof=1 of two values
    members = run(project, *compare, "--runs", "--csv", str(runs_csv)).stdout
    runs = pd.read_csv(runs_csv)
    assert len(runs[runs["lr"].isin([0.05, 0.01])]) == 4 and max(map(len, members.splitlines())) <= 120
    names = {exp["name"] for exp in experiments}
    assert names <= set(runs["experiment"])
    # What ran each row: in DVC's own table and, shortened, in the comparison.
    precision = resolve_precision("auto", torch.device("cpu"))
    provenances = list(values_of(shown_json, "run"))
    assert len(provenances) >= 5 and all(
        p["device"] == "cpu" and p["device_name"] == cpu_name() and p["precision"] == precision
        and p["torch"] == str(torch.__version__) and p["processes"] == 1 for p in provenances), provenances
    assert set(runs["ran_on"]) == {f"{short_device_name(cpu_name())} {precision} {torch.__version__.split('+')[0]}"}
    # -A also lists the experiments of other commits: here the same ones, as there is only one baseline.
    every = run(project, *compare, "-A", "--runs").stdout
    assert names <= {line.split()[0] for line in every.splitlines()[1:]}
    versus_on_the_sweep(project, experiments)


def versus_on_the_sweep(project, experiments: list[dict]) -> None:
    """compare --versus on two of the sweep's runs: the p-value is McNemar's on their two prediction files; another
    seed drew another test subset, which is refused in one line; the workspace (the baseline's) is never touched."""
    name = {(values_of_run(exp, "seed"), values_of_run(exp, "lr")): exp["name"] for exp in experiments}
    fast, slow, reseeded = name[(0, 0.05)], name[(0, 0.01)], name[(1, 0.05)]
    before = workspace_state(project)
    versus = [sys.executable, "-m", "resnet_cifar.tools.compare", "--versus"]
    shown = run(project / "results", *versus, fast, slow).stdout
    a, b = predictions_at(project, exp_ref(project, fast)), predictions_at(project, exp_ref(project, slow))
    assert np.array_equal(a["labels"], b["labels"])
    right_a, right_b = a["predicted"] == a["labels"], b["predicted"] == b["labels"]
    discordant_b, discordant_c = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    assert f"{discordant_b} right only in A, {discordant_c} right only in B" in shown, shown
    assert f"p = {exact_mcnemar(discordant_b, discordant_c):.3g}" in shown, shown
    assert f"accuracy {right_a.mean():.4f}" in shown and f"accuracy {right_b.mean():.4f}" in shown
    refused = run(project, *versus, reseeded, fast, check=False)
    assert refused.returncode != 0 and refused.stdout == ""
    assert len(refused.stderr.strip().splitlines()) == 1 and "different test subsets" in refused.stderr
    # The queue ran in temporary copies: the workspace holds the baseline's results, the same as main's.
    same = run(project, *versus, "workspace", "main").stdout
    assert "0 right only in A, 0 right only in B" in same and "within noise: p = 1" in same, same
    unknown = run(project, *versus, fast, "no-such-exp", check=False)
    assert unknown.returncode != 0 and "no-such-exp" in unknown.stderr
    assert workspace_state(project) == before


def values_of_run(experiment: dict, key: str) -> float:
    """An experiment's test accuracy ("accuracy"), learning rate ("lr") or seed, from `dvc exp show --json`."""
    data = experiment["revs"][0]["data"]
    if key == "accuracy":
        return data["metrics"]["metrics/evaluate.json"]["data"]["accuracy"]
    params = data["params"]["params.yaml"]["data"]
    return params[key] if key == "seed" else params["train"][key]
