"""Unit tests of the analysis pieces: calibration, classification report, flip TTA, feature map, figures (the TTA views
themselves: tests/test_tta.py)."""
import numpy as np
import pandas as pd
import pytest
import torch
from threadpoolctl import threadpool_limits

from resnet_cifar.analysis.calibration import expected_calibration_error, reliability_table
from resnet_cifar.analysis.embedding import sample_indices, tsne_map
from resnet_cifar.analysis.reports import (
    classification_report_table,
    confusion_counts,
    most_confident_mistakes,
    per_class_accuracy,
)
from resnet_cifar.data.batches import DeviceSplit, normalize
from resnet_cifar.data.dataset import Split
from resnet_cifar.engine.inference import (
    loss_and_accuracy,
    predict_features_and_logits,
    predict_logits,
    tta_log_probs,
)
from resnet_cifar.figures.plotting import (
    embedding_figure,
    history_figure,
    per_class_accuracy_figure,
    reliability_figure,
)
from resnet_cifar.model.resnet import build_model

CLASSES = ("a", "b", "c")


def test_reliability_table_and_ece_by_hand():
    # Bins of width 0.1: (0.8, 0.9] holds two images at 0.9 (one right), (0.5, 0.6] two at 0.6 (both right).
    confidence = np.array([0.9, 0.9, 0.6, 0.6])
    correct = np.array([True, False, True, True])
    table = reliability_table(confidence, correct, bins=10)
    assert list(table["count"]) == [2, 2]
    assert table["lower"].tolist() == pytest.approx([0.5, 0.8])
    assert table["upper"].tolist() == pytest.approx([0.6, 0.9])
    assert table["accuracy"].tolist() == pytest.approx([1.0, 0.5])
    assert table["confidence"].tolist() == pytest.approx([0.6, 0.9])
    # |1 - 0.6| * 2/4 + |0.5 - 0.9| * 2/4
    assert expected_calibration_error(table) == pytest.approx(0.4)


def test_ece_is_near_zero_for_calibrated_and_large_for_overconfident_predictions():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.1, 1.0, size=200_000)
    calibrated = rng.uniform(size=confidence.size) < confidence  # right with probability = confidence
    table = reliability_table(confidence, calibrated, bins=15)
    assert table["count"].sum() == confidence.size
    # Calibrated, so only sampling noise is left: a bin's accuracy over its ~15,000 draws has a standard deviation
    # of at most 0.5 / sqrt(15,000) = 0.004 around its mean confidence; 0.01 is 2.5 of those.
    assert expected_calibration_error(table) < 0.01
    always_sure = reliability_table(np.full(1000, 0.99), rng.uniform(size=1000) < 0.5, bins=15)
    # Confidence 0.99 against an accuracy of 0.5, within three standard deviations (0.5 / sqrt(1,000) = 0.016).
    assert expected_calibration_error(always_sure) == pytest.approx(0.49, abs=0.05)


def test_classification_report_and_per_class_accuracy():
    labels = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2, 2])
    predicted = np.array([0, 0, 1, 2, 1, 0, 2, 2, 2, 2])
    report = classification_report_table(labels, predicted, CLASSES)
    assert list(report["class"]) == [*CLASSES, "macro avg", "weighted avg"]
    assert list(report.columns) == ["class", "precision", "recall", "f1", "support"]
    rows = report.set_index("class")
    assert rows.loc["a", "precision"] == pytest.approx(2 / 3) and rows.loc["c", "precision"] == pytest.approx(0.8)
    assert rows.loc["macro avg", "f1"] == pytest.approx(rows.loc[list(CLASSES), "f1"].mean())
    assert rows.loc["weighted avg", "support"] == len(labels)
    accuracy = per_class_accuracy(report)
    counts = confusion_counts(labels, predicted, len(CLASSES))
    assert list(accuracy.values()) == pytest.approx(list(counts.diagonal() / counts.sum(1)))
    assert accuracy == pytest.approx({"a": 0.5, "b": 0.5, "c": 1.0})


def test_per_class_accuracy_is_none_for_a_class_without_test_images():
    report = classification_report_table(np.array([0, 0, 2]), np.array([0, 1, 2]), CLASSES)
    assert per_class_accuracy(report) == {"a": 0.5, "b": None, "c": 1.0}


def test_most_confident_mistakes_come_first():
    labels = np.array([0, 1, 2, 0, 1, 2])
    predicted = np.array([1, 1, 0, 2, 0, 2])
    confidence = np.array([0.5, 0.99, 0.9, 0.7, 0.9, 0.2])
    assert most_confident_mistakes(labels, predicted, confidence, 3).tolist() == [2, 4, 3]
    assert most_confident_mistakes(labels, predicted, confidence, 10).tolist() == [2, 4, 3, 0]
    assert most_confident_mistakes(labels, labels, confidence, 3).tolist() == []


@pytest.fixture
def model_and_data(device):
    torch.manual_seed(0)
    model = build_model("resnet18").eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so eval mode is not the identity
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(6, 3, 32, 32), dtype=np.uint8)
    split = Split(images, rng.integers(0, 10, size=6), np.arange(6), tuple("abcdefghij"))
    return model.to(device, memory_format=torch.channels_last), DeviceSplit(split, device)


def test_features_and_logits_come_from_one_pass_and_match_the_model(model_and_data):
    model, data = model_and_data
    features, logits = predict_features_and_logits(model, data, batch_size=4)
    with torch.no_grad():
        expected = model.features(normalize(data.images))
    assert features.shape == (6, 512) and torch.allclose(features, expected, atol=1e-5)
    assert torch.allclose(logits, predict_logits(model, data, batch_size=4), atol=1e-5)


def test_flip_tta_averages_the_softmax_of_both_views(model_and_data):
    model, data = model_and_data
    logits = predict_logits(model, data, batch_size=4)
    with torch.no_grad():
        mirrored = model(normalize(torch.flip(data.images, dims=[3])))
    assert not torch.allclose(mirrored, logits, atol=1e-3)  # random images are not mirror-symmetric
    averaged = tta_log_probs(model, data, batch_size=4, precision="fp32", mode="flip")
    expected = ((torch.softmax(logits, 1) + torch.softmax(mirrored, 1)) / 2).double()
    assert torch.allclose(averaged.exp(), expected, atol=1e-6)
    loss, accuracy = loss_and_accuracy(averaged, data.labels)
    chosen = expected[torch.arange(6, device=data.labels.device), data.labels]
    assert loss == pytest.approx(-chosen.log().mean().item(), rel=1e-5)
    assert accuracy == pytest.approx((expected.argmax(1) == data.labels).sum().item() / 6)


def test_sample_indices_are_seeded_distinct_and_sorted():
    first = sample_indices(1000, 50, seed=3)
    assert len(set(first.tolist())) == 50 and list(first) == sorted(first) and first.max() < 1000
    assert np.array_equal(first, sample_indices(1000, 50, seed=3))
    assert not np.array_equal(first, sample_indices(1000, 50, seed=4))
    assert np.array_equal(sample_indices(20, 50, seed=3), np.arange(20))


def test_tsne_map_keeps_separated_clusters_apart():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 64)) * 10
    labels = np.repeat(np.arange(3), 20)
    features = (centres[labels] + rng.normal(size=(60, 64))).astype(np.float16)
    # One thread: torch's and scikit-learn's OpenMP pools, both live in this process, slow each other down by
    # orders of magnitude on a busy machine.
    with threadpool_limits(limits=1):
        coords, again, small = (tsne_map(f, seed=0) for f in (features, features, features[:12]))
    assert coords.shape == (60, 2) and np.isfinite(coords).all()
    distances = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    assert (labels[distances.argmin(1)] == labels).all()  # each point's nearest neighbour is in its cluster
    assert np.allclose(coords, again)
    assert small.shape == (12, 2)  # a small sample lowers the perplexity


def test_figures_show_what_they_claim():
    coords = np.arange(12.0).reshape(6, 2)
    labels, predicted = np.array([0, 1, 2, 0, 1, 2]), np.array([0, 1, 0, 0, 2, 2])
    fig = embedding_figure(coords, labels, predicted, CLASSES)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [*CLASSES, "misclassified"]
    rings = ax.collections[-1]
    assert rings.get_offsets().tolist() == coords[labels != predicted].tolist()

    fig = per_class_accuracy_figure({"a": 0.5, "b": None, "c": 1.0}, overall=0.75)
    ax = fig.axes[0]
    assert [round(p.get_width(), 6) for p in ax.patches] == [50.0, 0.0, 100.0]
    assert [t.get_text() for t in ax.texts] == ["50.0", "no test images", "100.0"]

    table = reliability_table(np.array([0.9, 0.9, 0.6]), np.array([True, False, True]), bins=10)
    fig = reliability_figure(table, expected_calibration_error(table))
    assert fig.axes[0].get_title() == "Reliability diagram (ECE 40.00%)"  # |0.5 - 0.9| * 2/3 + |1 - 0.6| * 1/3
    assert [p.get_height() for p in fig.axes[1].patches] == [1, 2]  # images per bin


def test_history_of_one_epoch_draws_the_training_curve_within_it():
    history = pd.DataFrame({"epoch": [1], "train_loss": [1.9], "val_loss": [1.5], "train_acc": [0.3],
                            "val_acc": [0.45], "lr": [0.01]})
    progress = pd.DataFrame({"epoch": [0.25, 0.5, 0.75, 1.0], "loss": [2.3, 2.0, 1.7, 1.6],
                             "acc": [0.1, 0.25, 0.4, 0.45], "lr": [0.1, 0.2, 0.1, 0.01]})
    fig = history_figure(history, progress)
    (loss_train, loss_val), (acc_train, acc_val) = (ax.get_lines() for ax in fig.axes[:2])
    assert loss_train.get_xdata().tolist() == [0.25, 0.5, 0.75, 1.0] and loss_train.get_ydata().tolist() == [
        2.3, 2.0, 1.7, 1.6]
    assert acc_train.get_ydata().tolist() == pytest.approx([10, 25, 40, 45])
    assert loss_val.get_xdata().tolist() == [1] and loss_val.get_marker() == "o"  # one point: visible as a dot
    assert acc_val.get_ydata().tolist() == pytest.approx([45])
    assert fig.axes[2].get_lines()[0].get_ydata().tolist() == [0.1, 0.2, 0.1, 0.01]  # the lr at each point
    assert all(ax.get_xlim()[0] == 0 for ax in fig.axes[:3])  # the first epoch shown whole
    assert any(0 < tick < 1 for tick in fig.axes[0].get_xticks())  # ticks at fractions of it, not just 0 and 1
    # One epoch has no train-validation gap worth a panel: three curve panels and no bar.
    assert [ax.get_title() for ax in fig.axes] == ["Cross-entropy loss", "Accuracy", "Learning rate"]
    assert not any(ax.patches for ax in fig.axes)

    without = history_figure(history)  # a run that recorded no curve: the per-epoch values
    assert without.axes[0].get_lines()[0].get_ydata().tolist() == [1.9]
    assert len(without.axes) == 3


def test_history_of_several_epochs_draws_the_gap_per_epoch():
    history = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [1.9, 1.2, 0.8], "val_loss": [1.5, 1.1, 1.0],
                            "train_acc": [0.3, 0.6, 0.8], "val_acc": [0.45, 0.6, 0.7], "lr": [0.1, 0.05, 0.01]})
    fig = history_figure(history)
    assert len(fig.axes) == 4
    gap = fig.axes[3]
    assert [p.get_height() for p in gap.patches] == pytest.approx([-15, 0, 10])  # 100 * (train - val acc)
    assert [p.get_x() + p.get_width() / 2 for p in gap.patches] == pytest.approx([1, 2, 3])
    for epochs in (history, history[:2]):  # two bars also get whole-epoch ticks
        ticks = history_figure(epochs).axes[3].get_xticks()
        assert ticks.tolist() == [round(t) for t in ticks] and 0 in ticks


def test_history_log_axes_label_their_ticks_as_plain_numbers():
    # The loss spans less than a decade (only minor ticks fall inside: matplotlib writes them 2.6 x 10^0 by
    # default); the learning rate spans three decades.
    progress = pd.DataFrame({"epoch": [0.25, 0.5, 0.75, 1.0], "loss": [2.8, 2.2, 1.7, 1.35],
                             "acc": [0.1, 0.25, 0.4, 0.45], "lr": [0.4, 0.1, 0.01, 0.0005]})
    history = pd.DataFrame({"epoch": [1], "train_loss": [1.8], "val_loss": [1.3], "train_acc": [0.3],
                            "val_acc": [0.45], "lr": [0.0005]})
    fig = history_figure(history, progress)
    fig.canvas.draw()  # tick labels are made at draw time
    for ax in (fig.axes[0], fig.axes[2]):
        assert ax.get_yscale() == "log"
        ticks = [*ax.yaxis.get_major_ticks(), *ax.yaxis.get_minor_ticks()]
        labelled = {tick.get_loc(): tick.label1.get_text() for tick in ticks if tick.label1.get_text()}
        low, high = ax.get_ylim()
        assert sum(low <= loc <= high for loc in labelled) >= 2  # the axis can be read
        for loc, text in labelled.items():
            assert float(text.replace("\N{MINUS SIGN}", "-")) == pytest.approx(loc, rel=1e-3), text
