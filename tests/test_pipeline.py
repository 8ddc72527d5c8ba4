"""End to end: real `dvc` commands in a temporary git repository, on a tiny archive served over HTTP."""
import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image

from browser import chromium_path, render, skip_unless_installed
from cifar_archive import CLASSES
from committed import REPO
from project import TINY, TINY_ROBUSTNESS, command_env, ran_stages, run, set_params
from resnet_cifar.corruption_table import CORRUPTIONS, FAMILY, STANDARD
from resnet_cifar.data.batches import DeviceSplit
from resnet_cifar.data.dataset import Split
from resnet_cifar.engine.inference import predict_logits
from resnet_cifar.model.checkpoint import load_model
from resnet_cifar.tools.offline_plots import install as install_offline_template

# Every test here runs dvc in a project made once per session (conftest's tiny_pipeline); tests that change the
# project take a private copy of it (finished_project), so no test depends on another one's changes.
pytestmark = pytest.mark.e2e


@pytest.fixture
def project(tiny_pipeline):
    """The shared finished project, for tests that only read it."""
    return tiny_pipeline[0]


def test_repro_runs_every_stage_and_writes_every_out(tiny_pipeline):
    project, output = tiny_pipeline
    assert ran_stages(output) == ["download", "subset", "train", "evaluate", "corrupt", "robustness", "plot"]
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    declared = [o["path"] for stage in lock["stages"].values() for o in stage.get("outs", [])]
    for path in declared:
        assert (project / path).exists(), path
    assert sorted(p.name for p in (project / "data/raw/cifar-10-batches-py").iterdir()) == sorted(
        ["batches.meta", "test_batch"] + [f"data_batch_{i}" for i in range(1, 6)])


def declared_outs(project: Path) -> list[str]:
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"].values()
    return [next(iter(out)) if isinstance(out, dict) else out for stage in stages for out in stage.get("outs", [])]


def changed_since_commit(project: Path) -> list[str]:
    """Every file added, changed or removed since the last commit, git-ignored ones included, one by one."""
    status = run(project, "git", "status", "--porcelain=v1", "-z", "--untracked-files=all", "--ignored=traditional")
    return sorted(entry[3:] for entry in status.stdout.split("\0") if entry)


def ignored_by_the_repository(project: Path, paths: list[str], patterns: Path) -> set[str]:
    """The paths that this repository's .gitignore and .dvcignore ignore (caches such as __pycache__ and the train
    stage's resume state), as git matches them."""
    patterns.write_text((REPO / ".gitignore").read_text() + (REPO / ".dvcignore").read_text())
    result = subprocess.run(["git", "-c", f"core.excludesFile={patterns}", "check-ignore", "--no-index", "--stdin",
                             "-z"], cwd=project, env=command_env(), input="\0".join(paths), capture_output=True,
                            text=True)
    assert result.returncode in (0, 1), result.stderr  # 1: nothing ignored
    return set(filter(None, result.stdout.split("\0")))


def test_repro_writes_nothing_but_the_declared_outs(tiny_pipeline, tmp_path):
    """The fixture committed the whole project just before the repro, so what git reports changed since then is what
    the repro wrote (and the read-only tests after it, which write only inside .dvc/tmp)."""
    project = tiny_pipeline[0]
    outs = declared_outs(project)

    def allowed(path: str) -> bool:
        # DVC's own files: its lock, its cache and temporary files, and the .gitignore that keeps those out of git.
        if path in ("dvc.lock", ".dvc/.gitignore") or path.startswith((".dvc/cache/", ".dvc/tmp/")):
            return True
        if any(path == out or path.startswith(f"{out}/") for out in outs):
            return True
        folder, name = os.path.split(path)
        if name == ".gitignore":  # the one DVC writes beside outs, naming only them
            listed = (project / path).read_text().split()
            return all(os.path.join(folder, entry.lstrip("/")) in outs for entry in listed)
        return False

    changed = changed_since_commit(project)
    assert "models/best.pt" in changed  # git-ignored files are listed too: DVC's .gitignore files name every out
    left = [path for path in changed if not allowed(path)]
    assert sorted(set(left) - ignored_by_the_repository(project, left, tmp_path / "patterns")) == []


def test_subsets_have_the_requested_sizes(project):
    for split, size in zip(("train", "val", "test"), TINY.values()):
        with np.load(project / f"data/subsets/{split}.npz") as f:
            assert f["images"].shape == (size, 3, 32, 32) and f["images"].dtype == np.uint8


def test_metrics_are_sane(project):
    evaluation = json.loads((project / "metrics/evaluate.json").read_text())
    assert list(evaluation) == ["accuracy", "loss", "ece", "tta"]  # the plain scores, then the six-view TTA's
    assert 0 <= evaluation["accuracy"] <= 1 and evaluation["loss"] > 0
    assert 0 <= evaluation["tta"]["accuracy"] <= 1 and evaluation["tta"]["loss"] > 0
    training = json.loads((project / "metrics/train/metrics.json").read_text())
    assert training["step"] == 2 and "lr" not in training  # the lr is plotted per epoch, not a column
    assert 0 <= training["val"]["acc"] <= 1 and training["train"]["loss"] > 0
    assert 1 <= training["best"]["epoch"] <= 2 and training["time"]["images_per_sec"] > 0
    model = json.loads((project / "metrics/model.json").read_text())
    assert model["params"] == 11_173_962
    assert model["size_mb_fp32"] == pytest.approx(11_173_962 * 4 / 2**20, abs=0.01)
    summary = (project / "models/summary.txt").read_text()
    assert "layer4" in summary and "11,173,962" in summary
    report = pd.read_csv(project / "results/classification_report.csv")
    assert list(report["class"]) == CLASSES + ["macro avg", "weighted avg"]
    assert report["support"].iloc[:-2].sum() == TINY["test_size"]
    confusion = pd.read_csv(project / "results/confusion.csv")
    assert len(confusion) == TINY["test_size"] and set(confusion["actual"]) <= set(CLASSES)
    # The accuracy in the metrics is the one the confusion data implies.
    assert (confusion["actual"] == confusion["predicted"]).mean() == pytest.approx(evaluation["accuracy"], abs=1e-6)
    [workspace] = json.loads(run(project, "dvc", "metrics", "show", "--json").stdout).values()  # no revision asked
    assert workspace["data"]["metrics/evaluate.json"]["data"] == evaluation


def test_per_class_calibration_and_feature_outputs(project):
    evaluation = json.loads((project / "metrics/evaluate.json").read_text())
    confusion = pd.read_csv(project / "results/confusion.csv")
    per_class = pd.read_csv(project / "results/per_class.csv")
    assert list(per_class.columns) == ["class", "accuracy"] and list(per_class["class"]) == CLASSES
    for name, accuracy in zip(per_class["class"], per_class["accuracy"]):
        mine = confusion[confusion["actual"] == name]
        if mine.empty:  # no test image of this class: no accuracy
            assert np.isnan(accuracy), name
        else:
            assert accuracy == pytest.approx((mine["predicted"] == name).mean(), abs=1e-4), name
    calibration = pd.read_csv(project / "results/calibration.csv")
    assert calibration["count"].sum() == TINY["test_size"]
    with np.load(project / "results/predictions.npz") as f:
        confidence, correct = f["probs"].max(1), f["predicted"] == f["labels"]
    # ECE as the definition says: bins of width 1/15, weighted by their share of the images.
    bins = np.minimum((confidence * 15).astype(int), 14)
    expected = sum(abs(correct[bins == b].mean() - confidence[bins == b].mean()) * (bins == b).mean()
                   for b in np.unique(bins))
    assert evaluation["ece"] == pytest.approx(expected, abs=1e-4)
    with np.load(project / "results/features.npz") as f:
        assert f["features"].shape == (TINY["test_size"], 512) and (f["features"] >= 0).all()  # pooled ReLUs


def test_exp_show_leads_with_the_columns_people_compare(project):
    header = run(project, "dvc", "exp", "show", "--csv").stdout.splitlines()[0].split(",")
    metrics = header[header.index("Created") + 2:header.index("model.arch")]  # after "Created" and "parent"
    assert metrics[:5] == ["accuracy", "loss", "ece", "tta.accuracy", "tta.loss"]
    assert metrics[5:9] == ["clean_acc", "corrupted_acc", "corrupted_acc_15", "relative_acc"]  # all 19 corruptions
    assert metrics[9:13] == ["best.val_acc", "best.epoch", "time.train_seconds", "time.images_per_sec"]
    assert not [name for name in metrics if name.startswith("accuracy.")]  # per-class accuracy is a plot
    assert metrics[-2:] == ["params", "size_mb_fp32"]
    params = header[header.index("model.arch"):]
    assert params[:6] == ["model.arch", "model.zero_init_residual", "model.image_size", "train.epochs",
                          "train.batch_size", "train.lr"]
    sizes = [params.index(f"data.{name}") for name in ("train_size", "val_size", "test_size", "url", "md5")]
    assert sizes == sorted(sizes)  # the subset sizes before the long URL and hash
    # The README's one-screen comparison keeps exactly the columns it promises.
    command = next(line for line in (REPO / "README.md").read_text().splitlines()
                   if line.startswith("dvc exp show --drop '.*' --keep"))
    kept = run(project, *shlex.split(command), "--csv").stdout.splitlines()[0].split(",")
    assert [c for c in kept if c not in ("rev", "typ", "parent")] == [
        "Experiment", "Created", "State", "accuracy", "loss", "tta.accuracy", "best.val_acc", "time.train_seconds",
        "time.images_per_sec", "run.device_name", "run.precision", "run.torch", "model.arch", "train.epochs",
        "train.batch_size", "train.lr", "data.train_size", "data.val_size", "data.test_size"]


def test_robustness_covers_every_corruption_and_severity_and_its_metrics_are_the_csvs(project):
    params = yaml.safe_load((project / "params.yaml").read_text())["robustness"]
    severities = params["severities"]
    table = pd.read_csv(project / "results/robustness.csv")
    assert list(table.columns) == ["corruption", "family", "severity", "accuracy"]
    assert list(table["corruption"].unique()) == list(CORRUPTIONS)  # the committed [all], in canonical order
    assert table.groupby("corruption", sort=False)["severity"].apply(list).tolist() == [severities] * 19
    assert [FAMILY[name] for name in table["corruption"]] == table["family"].tolist()
    metrics = json.loads((project / "metrics/robustness.json").read_text())
    assert metrics["corrupted_acc"] == pytest.approx(table["accuracy"].mean(), abs=1e-6)
    standard = table[table["corruption"].isin(STANDARD)]
    assert metrics["corrupted_acc_15"] == pytest.approx(standard["accuracy"].mean(), abs=1e-6)
    assert metrics["relative_acc"] == pytest.approx(metrics["corrupted_acc"] / metrics["clean_acc"], abs=1e-5)
    # Accuracies of `images` test images: multiples of 1/images.
    count = TINY_ROBUSTNESS["images"]
    assert np.allclose(table["accuracy"] * count, np.round(table["accuracy"] * count), atol=1e-4)

    # The sample: distinct images of the test subset, with their labels, corrupted in that order.
    with np.load(project / "data/subsets/test.npz") as f:
        test_images, test_labels, test_source = f["images"], f["labels"], f["source_index"]
    with np.load(project / "data/corrupted/clean.npz") as f:
        clean, labels, source = f["images"], f["labels"], f["source_index"]
        assert list(f["corruptions"]) == list(CORRUPTIONS) and list(f["severities"]) == severities
    assert len(clean) == count and len(set(source)) == count and set(source) <= set(test_source)
    position = np.searchsorted(test_source, source)
    assert (test_images[position] == clean).all() and (test_labels[position] == labels).all()
    assert sorted(p.name for p in (project / "data/corrupted").iterdir()) == sorted(
        ["clean.npz", *(f"{name}.npz" for name in CORRUPTIONS)])
    with np.load(project / "data/corrupted/fog.npz") as f:
        assert sorted(f.files) == sorted(f"severity_{s}" for s in severities)
        fog = [f[f"severity_{s}"] for s in severities]
    for images in fog:
        assert images.shape == clean.shape and images.dtype == np.uint8 and (images != clean).any()
    # The accuracy the stage reports on the clean sample is the checkpoint's on those images.
    model, _ = load_model(project / "models/best.pt")
    data = DeviceSplit(Split(clean, labels, source, tuple(CLASSES)), torch.device("cpu"))
    predicted = predict_logits(model, data, 16).argmax(1).numpy()
    assert metrics["clean_acc"] == pytest.approx((predicted == labels).mean(), abs=1e-6)


def test_retraining_reuses_the_corrupted_images_and_corruption_params_remake_them(finished_project):
    project = finished_project
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]["corrupt"]["outs"]
    set_params(project, train={"lr": 0.03})
    retrained = run(project, "dvc", "repro")
    assert ran_stages(retrained.stdout) == ["train", "evaluate", "robustness", "plot"]
    assert yaml.safe_load((project / "dvc.lock").read_text())["stages"]["corrupt"]["outs"] == lock
    set_params(project, robustness={"severities": [2], "corruptions": ["blur", "fog"]})
    remade = run(project, "dvc", "repro")
    assert ran_stages(remade.stdout) == ["corrupt", "robustness", "plot"]
    table = pd.read_csv(project / "results/robustness.csv")
    assert table[["corruption", "severity"]].values.tolist() == [
        ["defocus_blur", 2], ["glass_blur", 2], ["motion_blur", 2], ["zoom_blur", 2], ["fog", 2]]
    metrics = json.loads((project / "metrics/robustness.json").read_text())
    assert "corrupted_acc_15" not in metrics  # standard corruptions only: the mean is already theirs
    assert sorted(p.name for p in (project / "data/corrupted").iterdir()) == [
        "clean.npz", "defocus_blur.npz", "fog.npz", "glass_blur.npz", "motion_blur.npz", "zoom_blur.npz"]


def test_history_has_one_row_per_epoch(project):
    for name in ("train/loss", "train/acc", "val/loss", "val/acc", "lr"):
        table = pd.read_csv(project / f"metrics/train/plots/metrics/{name}.tsv", sep="\t")
        assert list(table["step"]) == [1, 2], name


def test_checkpoints_load_safely(project):
    for name in ("best", "last"):
        state = torch.load(project / f"models/{name}.pt", weights_only=True)
        assert state["arch"] == "resnet18" and state["classes"] == CLASSES
    best = torch.load(project / "models/best.pt", weights_only=True)
    history = pd.read_csv(project / "metrics/train/plots/metrics/val/acc.tsv", sep="\t")
    assert best["val_acc"] == pytest.approx(history["acc"].max(), abs=1e-6)


def test_plots_are_png_images_and_dvc_renders_them(project, tmp_path):
    names = ("history", "correct", "confident_mistakes", "confusion", "per_class_accuracy", "reliability", "tsne",
             "robustness", "corruptions")
    for name in names:
        with Image.open(project / f"plots/{name}.png") as image:
            assert image.format == "PNG" and min(image.size) > 100
    run(project, "dvc", "plots", "show", "-o", str(tmp_path / "plots_html"))
    page = (tmp_path / "plots_html/index.html").read_text()
    for title in ("Loss", "Accuracy", "Learning rate", "Training loss within epochs", "Confusion matrix",
                  "Accuracy per class", "Reliability", "Accuracy under corruption"):
        assert title in page
    for name in names:
        assert f"plots/{name}.png" in page, name


def test_second_repro_runs_nothing_and_plot_param_reruns_only_plot(finished_project):
    project = finished_project
    again = run(project, "dvc", "repro")
    assert ran_stages(again.stdout) == []
    set_params(project, plot={"dpi": 80})
    changed = run(project, "dvc", "repro")
    assert ran_stages(changed.stdout) == ["plot"]
    with Image.open(project / "plots/history.png") as image:
        assert image.info["dpi"][0] == pytest.approx(80, abs=1)


def test_tta_adds_tta_metrics_and_keeps_the_plain_ones(finished_project):
    project = finished_project
    six_views = json.loads((project / "metrics/evaluate.json").read_text())  # the default, flip_translate
    set_params(project, evaluate={"tta": "none"})
    assert ran_stages(run(project, "dvc", "repro", "evaluate").stdout) == ["evaluate"]
    plain = json.loads((project / "metrics/evaluate.json").read_text())
    assert "tta" not in plain
    set_params(project, evaluate={"tta": "flip"})
    output = run(project, "dvc", "repro", "evaluate").stdout
    assert ran_stages(output) == ["evaluate"]
    evaluation = json.loads((project / "metrics/evaluate.json").read_text())
    assert 0 <= evaluation["tta"]["accuracy"] <= 1 and evaluation["tta"]["loss"] > 0
    assert evaluation["tta"]["loss"] != six_views["tta"]["loss"]  # two views, not six
    assert f"(flip TTA: accuracy {evaluation['tta']['accuracy']:.4f})" in output
    # The plain metrics keep their keys and values: TTA only adds to them.
    assert {k: evaluation[k] for k in plain} == plain == {k: six_views[k] for k in plain}


def test_plots_pages_render_offline_in_chromium(finished_project):
    """`dvc plots show` and `dvc plots diff` pages draw every declared plot in a browser without internet."""
    project = finished_project
    browser = chromium_path()
    skip_unless_installed(browser is not None, "chromium is not installed (apt-get install chromium)")
    node_modules = REPO / "node_modules"
    skip_unless_installed(node_modules.is_dir(), "node_modules is missing (run `npm ci`)")
    install_offline_template(project, node_modules)
    declared = yaml.safe_load((project / "dvc.yaml").read_text())["plots"]
    charts = {re.sub("[^a-zA-Z0-9]", "_", next(iter(p))) for p in declared if isinstance(p, dict)}
    images = {p for p in declared if isinstance(p, str)}
    for command in (("show",), ("diff", "HEAD")):
        out = project / f"plots_{command[0]}"
        run(project, "dvc", "plots", *command, "-o", str(out))
        page = (out / "index.html").read_text()
        assert "cdn.jsdelivr" not in page
        report = render(out / "index.html", browser)
        assert report.errors == [], command
        assert {p.id for p in report.plots if p.kind == "vega"} == charts, command
        assert {p.title for p in report.plots if p.kind == "image"} == images, command
        assert [p.id for p in report.plots if not p.drawn] == [], command
