"""A diverged or barely trained model still gets every output of `evaluate`, `robustness` and `plot`: finite, honest
metrics where they exist (null where they do not), every figure, a note on a figure where something cannot be drawn,
and no traceback."""
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image

from cifar_archive import CLASSES, class_images
from project import make_project, run, set_params
from resnet_cifar.analysis.calibration import expected_calibration_error, reliability_table
from resnet_cifar.analysis.embedding import feature_map
from resnet_cifar.analysis.reports import classification_report_table, confusion_table, per_class_accuracy
from resnet_cifar.analysis.scores import NO_PREDICTION, NO_PREDICTION_NAME, score_logits
from resnet_cifar.data.dataset import Split, save_split
from resnet_cifar.figures.plotting import (
    confusion_figure,
    history_figure,
    prediction_grid,
    reliability_figure,
)
from resnet_cifar.model.checkpoint import save_checkpoint
from resnet_cifar.model.resnet import build_model

ABC = ("a", "b", "c")


def notes(fig):
    """The text written on a figure's axes (the figure's notes and cell labels)."""
    return [t.get_text().replace("\n", " ") for ax in fig.axes for t in ax.texts]


def strict_json(text):
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")
    return json.loads(text, parse_constant=refuse)


def test_ordinary_logits_score_as_cross_entropy_and_argmax():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-3.0, 4.0, 0.0]])
    labels = torch.tensor([0, 0, 1])
    scores = score_logits(logits.numpy(), labels.numpy())
    assert scores.loss == pytest.approx(torch.nn.functional.cross_entropy(logits, labels).item(), rel=1e-6)
    assert scores.accuracy == pytest.approx(2 / 3)
    assert scores.predicted.tolist() == [0, 2, 1]
    assert np.allclose(scores.probs, torch.softmax(logits, 1).numpy(), atol=1e-7)
    assert scores.warning("test images") is None


def test_huge_finite_logits_give_a_finite_loss_and_one_hot_probabilities():
    # float32 log-softmax overflows here: the logit 6e38 below the largest is -inf in float32.
    logits = np.array([[3e38, -3e38, 0.0], [1e6, 2e6, -1e6]], dtype=np.float32)
    scores = score_logits(logits, np.array([1, 1]))
    assert np.isfinite(scores.loss)
    assert scores.loss == pytest.approx((6e38 + 0) / 2, rel=1e-6)  # image 2 is right with probability 1: loss 0
    assert scores.probs.tolist() == [[1, 0, 0], [0, 1, 0]] and scores.accuracy == 0.5


def test_non_finite_logits_give_no_prediction_a_null_loss_and_a_warning():
    logits = np.array([[np.nan, 0, 0], [np.inf, 0, 0], [0, -np.inf, 0], [5, 0, 0], [0, 5, 0]], dtype=np.float32)
    scores = score_logits(logits, np.array([0, 0, 0, 0, 0]))
    assert scores.predicted.tolist() == [NO_PREDICTION] * 3 + [0, 1]
    assert np.isfinite(scores.probs).all() and (scores.probs[:3] == 0).all()
    assert scores.accuracy == pytest.approx(1 / 5)  # images without a prediction count as misclassified
    assert scores.loss is None
    warning = scores.warning("test images")
    assert warning.startswith("warning: 3 of 5 test images have logits that are not finite") and "\n" not in warning


def test_ece_is_undefined_without_predictions_and_one_bin_holds_all_sure_predictions():
    empty = reliability_table(np.array([]), np.array([], dtype=bool), bins=15)
    assert empty.empty and expected_calibration_error(empty) is None
    sure = reliability_table(np.ones(4), np.array([True, False, False, False]), bins=15)
    assert sure["count"].tolist() == [4] and expected_calibration_error(sure) == pytest.approx(0.75)


def test_reports_name_and_count_images_without_a_prediction():
    labels, predicted = np.array([0, 0, 1, 2]), np.array([0, NO_PREDICTION, NO_PREDICTION, 2])
    assert confusion_table(labels, predicted, ABC)["predicted"].tolist() == ["a", NO_PREDICTION_NAME,
                                                                              NO_PREDICTION_NAME, "c"]
    report = classification_report_table(labels, predicted, ABC)
    assert per_class_accuracy(report) == {"a": 0.5, "b": 0.0, "c": 1.0}
    assert report.set_index("class").loc["a", "precision"] == 1.0  # no prediction is no false positive


def test_history_with_infinite_nan_and_zero_losses_draws_the_rest_and_says_what_is_missing():
    history = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [9.5, 0.0, 2.0], "val_loss": [np.inf, np.nan, 1e6],
                            "train_acc": [0.1, 0.2, 0.3], "val_acc": [0.1, np.nan, 0.2], "lr": [0.1, 0.1, 0.01]})
    fig = history_figure(history)
    train, val = (line.get_ydata() for line in fig.axes[0].get_lines())
    assert np.isnan(train[1]) and np.isnan(val[:2]).all() and val[2] == 1e6  # masked, not plotted at a bogus value
    # One note on each panel with something missing; the learning rate is all there.
    assert notes(fig) == ["not drawn: train loss at epoch 2 (<= 0 on a log scale); val loss at epochs 1, 2 "
                          "(not finite)", "not drawn: val acc at epoch 2 (not finite)"]


def test_galleries_show_images_without_a_prediction_and_empty_galleries_say_none():
    images = np.zeros((2, 3, 32, 32), dtype=np.uint8)
    fig = prediction_grid(images, np.array([0, 1]), np.array([NO_PREDICTION, 1]), np.array([0.0, 0.9]), ABC, "t")
    assert [ax.get_title() for ax in fig.axes[:2]] == ["no prediction\ntrue: a", "b 90%"]
    empty = prediction_grid(images[:0], np.array([], int), np.array([], int), np.array([]), ABC, "no mistakes")
    assert notes(empty) == ["none"]


def test_confusion_figure_gives_images_without_a_prediction_a_column_and_one_predicted_class_fills_one():
    counts = np.array([[0, 3, 0], [0, 2, 0], [0, 0, 0]])  # one predicted class; class c absent
    fig = confusion_figure(counts, ABC, no_prediction=np.array([1, 0, 0]))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [*ABC, NO_PREDICTION_NAME]
    assert ax.images[0].get_array()[0].tolist() == [0, 0.75, 0, 0.25]  # row a: 3 as b, 1 without a prediction
    assert notes(fig)[:4] == ["0", "3", "0", "1"]


def test_reliability_figure_of_no_predictions_says_so_and_of_one_bin_draws_it():
    empty = reliability_table(np.array([]), np.array([], dtype=bool), bins=15)
    fig = reliability_figure(empty, None, without_prediction=40)
    assert "ECE undefined" in fig.axes[0].get_title()
    assert notes(fig) == ["not drawn: no test image has a prediction (logits not finite)"]
    one = reliability_table(np.ones(4), np.array([True, False, False, False]), bins=15)
    fig = reliability_figure(one, expected_calibration_error(one), without_prediction=2)
    assert [p.get_height() for p in fig.axes[1].patches] == [4]
    assert notes(fig) == ["left out: 2 images without a prediction (logits not finite)"]


def clusters(rng, scale=1.0):
    labels = np.repeat(np.arange(3), 10)
    features = rng.normal(size=(3, 16))[labels] * 10 + rng.normal(size=(30, 16))
    return (features * scale).astype(np.float32), labels


def nearest_neighbours_share_a_cluster(coords, labels):
    distances = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    return (labels[distances.argmin(1)] == labels).all()


def test_feature_map_of_huge_features_keeps_clusters_apart():
    # Squared distances of features this large overflow float32.
    features, labels = clusters(np.random.default_rng(0), scale=1e30)
    mapped = feature_map(features, seed=0)
    assert mapped.note is None and np.isfinite(mapped.coords).all()
    assert nearest_neighbours_share_a_cluster(mapped.coords, labels)


def test_feature_map_leaves_out_non_finite_vectors_and_says_so():
    features, labels = clusters(np.random.default_rng(0))
    features[[2, 5]] = np.inf
    features[7, 3] = np.nan
    mapped = feature_map(features, seed=0)
    assert mapped.shown.tolist() == [i for i in range(30) if i not in (2, 5, 7)]
    assert mapped.note == "left out: 3 of 30 feature vectors are not finite"
    assert nearest_neighbours_share_a_cluster(mapped.coords, labels[mapped.shown])


@pytest.mark.parametrize("features, note", [
    (np.full((30, 16), np.nan, np.float32), "t-SNE not drawn: 30 of 30 feature vectors are not finite"),
    (np.ones((30, 16), np.float32), "t-SNE not drawn: all 30 usable feature vectors are identical"),
    (np.random.default_rng(0).normal(size=(1, 16)), "t-SNE not drawn: only 1 usable feature vectors, at least 10 "
                                                    "needed"),
], ids=["none finite", "all identical", "one sample"])
def test_feature_map_that_cannot_be_drawn_says_why(features, note):
    mapped = feature_map(features, seed=0)  # identical features used to crash the interpreter inside scikit-learn
    assert mapped.note == note and len(mapped.shown) == 0 and mapped.coords.shape == (0, 2)


def overflowing(model):
    """BatchNorm running variance far below eps: every layer multiplies activations, until they overflow to inf
    and then NaN, as after a training run whose statistics went wrong."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_var.fill_(1e-30)


def huge(model):
    """Every weight 100 times too large: logits and features huge but finite (far beyond float16)."""
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            m.weight.mul_(100)


def one_class(model):
    """Ignores the image: the same logits, favouring class 3, for every image."""
    model.fc.weight.zero_()
    model.fc.bias.copy_(20 * torch.nn.functional.one_hot(torch.tensor(3), 10))


SCENARIOS = {  # model, then the test labels
    "overflowing": (overflowing, np.arange(40) % 5),  # classes 5-9 absent from the test subset
    "huge": (huge, np.arange(40) % 5),
    "all right": (one_class, np.full(40, 3)),
    "all wrong": (one_class, np.arange(40) % 3),
}
HISTORY = {"train/loss": [9.5, 3.9], "train/acc": [0.1, 0.12], "val/loss": [np.inf, np.nan], "val/acc": [0.1, 0.09],
           "lr": [0.1, 0.1]}


STAGES = ("evaluate", "corrupt", "robustness", "plot")  # what runs on the failed model, in order


def declared_outputs(project, stage):
    outs = yaml.safe_load((project / "dvc.yaml").read_text())["stages"][stage]["outs"]
    return [next(iter(o)) if isinstance(o, dict) else o for o in outs]


def failed_project(scenario: str, folder) -> Path:
    """A project holding `scenario`'s failed model's checkpoint, a test subset and a diverged training history."""
    damage, labels = SCENARIOS[scenario]
    project = make_project(folder / "project")
    set_params(project, evaluate={"tta": "flip_translate"}, plot={"dpi": 60},  # the TTA-averaged scores too
               robustness={"images": len(labels), "corruptions": ["impulse_noise", "fog"], "severities": [1, 5]})
    rng = np.random.default_rng(0)
    images = class_images(labels, rng).reshape(-1, 3, 32, 32)
    save_split(Split(images, labels, np.arange(len(labels)), tuple(CLASSES)), project / "data/subsets/test.npz")
    torch.manual_seed(0)
    model = build_model("resnet18").eval()
    with torch.no_grad():
        damage(model)
    save_checkpoint(project / "models/best.pt", model, "resnet18", tuple(CLASSES), epoch=1)
    for name, values in HISTORY.items():  # as DVCLive writes a diverged run's history
        path = project / "metrics/train/plots/metrics" / f"{name}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("step\t" + name.split("/")[-1] + "\n" + "".join(f"{i}\t{v}\n" for i, v in enumerate(values, 1)))
    return project


@pytest.fixture(scope="module")
def failed_runs(tmp_path_factory) -> dict[str, tuple[Path, list]]:
    """Each scenario's project after `python -m stages.X` for each of STAGES, by scenario: (project, outputs of the
    stages). The scenarios' stages run side by side, each scenario's in order. Its tests are e2e: it runs git and
    the stages as subprocesses."""
    projects = {name: failed_project(name, tmp_path_factory.mktemp("degenerate")) for name in SCENARIOS}

    def run_stages(project: Path) -> list:
        return [run(project, sys.executable, "-m", f"stages.{stage}", check=False) for stage in STAGES]

    with ThreadPoolExecutor(max_workers=len(projects)) as pool:
        results = dict(zip(projects, pool.map(run_stages, projects.values())))
    return {name: (projects[name], results[name]) for name in projects}


@pytest.fixture(params=list(SCENARIOS))
def failed_run(request, failed_runs):
    """One scenario's run: (scenario, project, outputs of the stages)."""
    return request.param, *failed_runs[request.param]


@pytest.mark.e2e
def test_a_failed_model_gets_every_output_and_no_traceback(failed_run):
    scenario, project, results = failed_run
    for result in results:
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert "Traceback" not in output and "RuntimeWarning" not in output, output
    for path in [path for stage in STAGES for path in declared_outputs(project, stage)]:
        assert (project / path).is_file() or any((project / path).glob("*.npz")), path  # data/corrupted: a folder
        if path.endswith(".json"):
            strict_json((project / path).read_text())
        if path.endswith(".png"):
            with Image.open(project / path) as image:
                assert image.format == "PNG" and min(image.size) > 100
    with np.load(project / "results/predictions.npz") as f:
        assert np.isfinite(f["probs"]).all()


@pytest.mark.e2e
def test_a_failed_model_gets_honest_metrics(failed_run):
    scenario, project, (evaluate, *_) = failed_run
    labels = SCENARIOS[scenario][1]
    metrics = strict_json((project / "metrics/evaluate.json").read_text())
    warnings = [line for line in evaluate.stderr.splitlines() if line.startswith("warning:")]
    if scenario == "overflowing":
        assert metrics == {"accuracy": 0.0, "loss": None, "ece": None, "tta": {"accuracy": 0.0, "loss": None}}
        assert len(warnings) == 2 and all(w.startswith("warning: 40 of 40 test images") for w in warnings)
        assert "loss null, ECE null" in evaluate.stdout
    else:
        assert warnings == []
        scores = [metrics["accuracy"], metrics["loss"], metrics["ece"], *metrics["tta"].values()]
        assert all(np.isfinite(v) for v in scores)
    if scenario == "huge":
        assert metrics["loss"] > 1e6
        with np.load(project / "results/features.npz") as f:
            features = f["features"]
        assert np.isfinite(features).all() and np.abs(features).max() > np.finfo(np.float16).max
    if scenario in ("all right", "all wrong"):
        assert metrics["accuracy"] == (1.0 if scenario == "all right" else 0.0)
        calibration = pd.read_csv(project / "results/calibration.csv")
        assert calibration["count"].tolist() == [40]  # identical predictions: one bin
        assert metrics["ece"] == pytest.approx(abs(metrics["accuracy"] - calibration["confidence"][0]), abs=1e-4)
    per_class = per_class_accuracy(pd.read_csv(project / "results/classification_report.csv"))
    absent = [name for k, name in enumerate(CLASSES) if k not in labels]
    assert absent and all(per_class[name] is None for name in absent)


@pytest.mark.e2e
def test_a_failed_model_gets_honest_robustness_metrics(failed_run):
    """Images without a prediction count as wrong under corruption too; a model right on no clean image has no
    relative accuracy (null), not a division by zero."""
    scenario, project, _ = failed_run
    metrics = strict_json((project / "metrics/robustness.json").read_text())
    table = pd.read_csv(project / "results/robustness.csv")
    assert len(table) == 4 and metrics["corrupted_acc"] == pytest.approx(table["accuracy"].mean(), abs=1e-6)
    if scenario == "overflowing":  # NaN logits everywhere
        assert metrics == {"clean_acc": 0.0, "corrupted_acc": 0.0, "relative_acc": None}
    if scenario == "all right":  # the model answers class 3 whatever the image, and every label is 3
        assert metrics == {"clean_acc": 1.0, "corrupted_acc": 1.0, "relative_acc": 1.0}
    if scenario == "all wrong":
        assert metrics == {"clean_acc": 0.0, "corrupted_acc": 0.0, "relative_acc": None}
