"""Stage `plot`: training history, correct predictions and the most confident mistakes, confusion heatmap,
per-class accuracy, reliability diagram, the t-SNE map of the penultimate features, accuracy under corruption and
what each corruption does to an image."""
import json

import numpy as np
import pandas as pd

from resnet_cifar import paths
from resnet_cifar.analysis.embedding import feature_map, sample_indices
from resnet_cifar.analysis.history import read_history, read_progress
from resnet_cifar.analysis.reports import confusion_counts, most_confident_mistakes, per_class_accuracy
from resnet_cifar.analysis.scores import NO_PREDICTION
from resnet_cifar.config import load_params
from resnet_cifar.data.dataset import load_split
from resnet_cifar.errors import report_user_errors, require_inputs
from resnet_cifar.figures.plotting import (
    confusion_figure,
    embedding_figure,
    history_figure,
    per_class_accuracy_figure,
    prediction_grid,
    reliability_figure,
    save_figure,
)
from resnet_cifar.figures.robustness import corruption_grid, robustness_figure
from resnet_cifar.robustness.selection import read_corrupted, read_made

GRID_SEVERITY = 3  # the middle of CIFAR-10-C's five: plainly visible, not yet unrecognisable


def spread(indices: np.ndarray, count: int) -> np.ndarray:
    """Up to `count` indices spread evenly over `indices`: a deterministic, representative sample."""
    if len(indices) <= count:
        return indices
    return indices[np.linspace(0, len(indices) - 1, count).round().astype(int)]


def grid_severity(severities: list[int]) -> int:
    """The severity made nearest GRID_SEVERITY (the higher of two as near)."""
    return min(severities, key=lambda s: (abs(s - GRID_SEVERITY), -s))


def robustness_figures(dpi: int) -> None:
    """Accuracy against severity, and the first corrupted test image under each corruption."""
    table = pd.read_csv(paths.ROBUSTNESS_TABLE)
    clean_accuracy = json.loads(paths.ROBUSTNESS_METRICS.read_text())["clean_acc"]
    save_figure(robustness_figure(table, clean_accuracy), paths.FIGURE_FILES["robustness"], dpi)
    clean = load_split(paths.CORRUPTED_CLEAN)
    names, severities = read_made(paths.CORRUPTED_CLEAN)
    shown = grid_severity(severities)
    examples = {name: read_corrupted(paths.CORRUPTED, name, [shown])[0][0] for name in names}
    save_figure(corruption_grid(clean.images[0], examples, shown, clean.classes[clean.labels[0]]),
                paths.FIGURE_FILES["corruptions"], dpi)


@report_user_errors
def main() -> None:
    params = load_params()
    p = params.plot
    require_inputs([paths.TEST_SUBSET, paths.EVALUATE_METRICS, paths.PREDICTIONS, paths.CLASSIFICATION_REPORT,
                    paths.CALIBRATION, paths.FEATURES], "evaluate")
    require_inputs([paths.ROBUSTNESS_TABLE, paths.ROBUSTNESS_METRICS, paths.CORRUPTED_CLEAN], "robustness")
    save_figure(history_figure(read_history(paths.TRAIN_LIVE), read_progress(paths.TRAIN_LIVE)),
                paths.FIGURE_FILES["history"], p.dpi)

    test = load_split(paths.TEST_SUBSET)
    with np.load(paths.PREDICTIONS) as f:
        probs, labels, predicted = f["probs"], f["labels"], f["predicted"]
    confidence = probs.max(1)
    correct, wrong = np.flatnonzero(predicted == labels), np.flatnonzero(predicted != labels)
    galleries = {
        "correct": (spread(correct, p.grid_size), f"Correctly classified test images ({len(correct)} of "
                                                  f"{len(labels)})"),
        "confident_mistakes": (most_confident_mistakes(labels, predicted, confidence, p.grid_size),
                               f"Most confident mistakes ({len(wrong)} of {len(labels)} misclassified)"),
    }
    for name, (pick, title) in galleries.items():
        fig = prediction_grid(test.images[pick], labels[pick], predicted[pick], confidence[pick], test.classes, title)
        save_figure(fig, paths.FIGURE_FILES[name], p.dpi)
    unpredicted = predicted == NO_PREDICTION
    counts = confusion_counts(labels, predicted, len(test.classes))
    no_prediction = np.bincount(labels[unpredicted], minlength=len(test.classes)) if unpredicted.any() else None
    save_figure(confusion_figure(counts, test.classes, no_prediction), paths.FIGURE_FILES["confusion"], p.dpi)

    metrics = json.loads(paths.EVALUATE_METRICS.read_text())
    report = pd.read_csv(paths.CLASSIFICATION_REPORT)
    save_figure(per_class_accuracy_figure(per_class_accuracy(report), metrics["accuracy"]),
                paths.FIGURE_FILES["per_class_accuracy"], p.dpi)
    calibration = pd.read_csv(paths.CALIBRATION)
    save_figure(reliability_figure(calibration, metrics["ece"], int(unpredicted.sum())),
                paths.FIGURE_FILES["reliability"], p.dpi)

    with np.load(paths.FEATURES) as f:
        features = f["features"]
    sample = sample_indices(len(features), p.tsne_samples, params.seed)
    mapped = feature_map(features[sample], params.seed)
    shown = sample[mapped.shown]
    save_figure(embedding_figure(mapped.coords, labels[shown], predicted[shown], test.classes, mapped.note,
                                 groups=test.groups), paths.FIGURE_FILES["tsne"], p.dpi)
    robustness_figures(p.dpi)


if __name__ == "__main__":
    main()
