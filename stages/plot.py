"""Stage `plot`: training-history figure, grids of correct and misclassified test images, confusion heatmap."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout's package, also in exp workspaces

import numpy as np  # noqa: E402

from resnet_cifar.config import load_params  # noqa: E402
from resnet_cifar.dataset import load_split  # noqa: E402
from resnet_cifar.errors import report_user_errors  # noqa: E402
from resnet_cifar.evaluation import confusion_counts  # noqa: E402
from resnet_cifar.history import read_history  # noqa: E402
from resnet_cifar.plotting import confusion_figure, history_figure, prediction_grid, save_figure  # noqa: E402

LIVE_DIR = Path("metrics/train")
PREDICTIONS = Path("results/predictions.npz")
TEST_SUBSET = Path("data/subsets/test.npz")
OUT_DIR = Path("plots")


def spread(indices: np.ndarray, count: int) -> np.ndarray:
    """Up to `count` indices spread evenly over `indices`: a deterministic, representative sample."""
    if len(indices) <= count:
        return indices
    return indices[np.linspace(0, len(indices) - 1, count).round().astype(int)]


@report_user_errors
def main() -> None:
    p = load_params().plot
    save_figure(history_figure(read_history(LIVE_DIR)), OUT_DIR / "history.png", p.dpi)

    test = load_split(TEST_SUBSET)
    with np.load(PREDICTIONS) as f:
        probs, labels, predicted = f["probs"], f["labels"], f["predicted"]
    confidence = probs.max(1)
    for name, mask, title in (("correct", predicted == labels, "Correctly classified test images"),
                              ("misclassified", predicted != labels, "Misclassified test images")):
        pick = spread(np.flatnonzero(mask), p.grid_size)
        fig = prediction_grid(test.images[pick], labels[pick], predicted[pick], confidence[pick], test.classes,
                              f"{title} ({mask.sum()} of {len(labels)})")
        save_figure(fig, OUT_DIR / f"{name}.png", p.dpi)
    counts = confusion_counts(labels, predicted, len(test.classes))
    save_figure(confusion_figure(counts, test.classes), OUT_DIR / "confusion.png", p.dpi)


if __name__ == "__main__":
    main()
