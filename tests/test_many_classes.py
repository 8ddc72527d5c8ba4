"""The figures from 2 to 100 classes (CIFAR-10, CIFAR-100, an image folder): above `MANY_CLASSES` the confusion,
per-class and t-SNE figures change layout to stay readable; at or below it they are drawn as for CIFAR-10."""
import matplotlib.pyplot as plt
import numpy as np
import pytest

from resnet_cifar.analysis.scores import NO_PREDICTION_NAME
from resnet_cifar.figures.plotting import (
    GRID_FONT,
    TOP_PAIRS,
    confusion_figure,
    embedding_figure,
    per_class_accuracy_figure,
    prediction_grid,
)

CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# CIFAR-100's longest names, and folder names longer still.
LONG_NAMES = ("aquarium_fish", "sweet_pepper", "maple_tree", "pickup_truck")
FOLDER_NAMES = ("golden_retriever_puppy", "a_very_long_folder_name_that_a_user_chose_for_a_class")


@pytest.fixture(autouse=True)
def close_figures():
    """The figures a test draws are closed after it: 100-class figures are large, and pyplot keeps them all."""
    yield
    plt.close("all")


def named(n):
    return tuple(f"class_{k:02d}" for k in range(n))


def confusions(n):
    """Counts with 50 right per class and off-diagonal cells 1..n*(n-1) (each count once): the top pairs known."""
    counts = np.zeros((n, n), dtype=int)
    counts[~np.eye(n, dtype=bool)] = np.arange(1, n * (n - 1) + 1)
    np.fill_diagonal(counts, 50)
    return counts


@pytest.mark.parametrize("n", [2, 10, 20])
def test_confusion_figure_up_to_many_classes_writes_a_count_in_every_cell(n):
    counts = confusions(n)
    fig = confusion_figure(counts, CIFAR10 if n == 10 else named(n))
    heatmap = fig.axes[0]
    assert len(fig.axes) == 2  # the heatmap and its colour bar: no panel of pairs
    assert [t.get_text() for t in heatmap.texts] == [str(c) for c in counts.flat]  # 10 classes: 100 texts
    assert tuple(fig.get_size_inches()) == (8, 7)
    assert heatmap.get_title() == "Confusion matrix (row-normalised; counts in cells)"


def test_confusion_figure_of_100_classes_leaves_cells_blank_and_lists_the_most_confused_pairs():
    n = 100
    classes = named(n)
    counts = confusions(n)
    fig = confusion_figure(counts, classes, no_prediction=np.ones(n, dtype=int))
    heatmap, pairs = fig.axes[0], confused_pairs_axes(fig)
    assert len(heatmap.texts) == 0  # no count in any of the 10,100 cells
    assert [t.get_text() for t in heatmap.get_xticklabels()] == [*classes, NO_PREDICTION_NAME]  # every class named
    assert [t.get_text() for t in heatmap.get_yticklabels()] == list(classes)
    assert heatmap.images[0].get_array().shape == (n, n + 1)  # the whole row-normalised matrix
    assert max(fig.get_size_inches()) > 8  # grown with the classes
    # The largest off-diagonal counts are the last rows' cells, the largest of all true class_99 as class_98.
    assert [t.get_text() for t in pairs.get_yticklabels()][:3] == ["class_99 → class_98", "class_99 → class_97",
                                                                   "class_99 → class_96"]
    assert len(pairs.patches) == TOP_PAIRS
    share = counts[99, 98] / (counts[99].sum() + 1)  # of the whole row, the image without a prediction included
    assert pairs.texts[0].get_text() == f"{counts[99, 98]} ({100 * share:.0f}% of true)"


def confused_pairs_axes(fig):
    return next(ax for ax in fig.axes if ax.get_title().startswith("Most confused pairs"))


def test_confusion_figure_of_100_classes_without_a_confusion_says_so():
    fig = confusion_figure(50 * np.eye(100, dtype=int), named(100))
    pairs = confused_pairs_axes(fig)
    assert len(pairs.patches) == 0 and [t.get_text() for t in pairs.texts] == ["no test image is misclassified"]


@pytest.mark.parametrize("n", [2, 20])
def test_per_class_accuracy_up_to_many_classes_keeps_the_report_order(n):
    values = np.linspace(0.9, 0.1, n)  # falling: sorting would reverse them
    fig = per_class_accuracy_figure(dict(zip(named(n), values)), overall=0.5)
    ax = fig.axes[0]
    assert [round(p.get_width(), 6) for p in ax.patches] == [round(100 * v, 6) for v in values]
    assert ax.get_title() == "Test accuracy per class"
    assert fig.get_size_inches()[1] == pytest.approx(0.38 * n + 1.2)


def test_per_class_accuracy_of_100_classes_sorts_the_bars_lowest_on_top():
    rng = np.random.default_rng(0)
    accuracy = dict(zip(named(100), rng.uniform(size=100)))
    accuracy["class_42"] = None  # no test images: above the lowest
    fig = per_class_accuracy_figure(accuracy, overall=0.5)
    ax = fig.axes[0]
    widths = [p.get_width() for p in ax.patches]  # in the order drawn: top to bottom (the y axis is inverted)
    assert ax.yaxis_inverted()
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert widths[1:] == sorted(widths[1:]) and names != list(accuracy)  # by value, not in the report's order
    assert names[0] == "class_42" and ax.texts[0].get_text() == "no test images"
    assert names[1] == min((n for n in accuracy if accuracy[n] is not None), key=accuracy.get)
    assert "sorted: lowest on top" in ax.get_title()
    assert fig.get_size_inches()[1] == pytest.approx(0.16 * 100 + 1.2)
    assert {t.get_fontsize() for t in ax.get_yticklabels()} == {6}


def scatter_map(n, points=300, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(points) % n
    return rng.normal(size=(points, 2)), labels, np.where(np.arange(points) % 7 == 0, (labels + 1) % n, labels)


def legend_texts(fig):
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


@pytest.mark.parametrize("n", [2, 10])
def test_tsne_of_up_to_10_classes_is_coloured_and_named_by_class_as_before(n):
    classes = CIFAR10[:n]
    fig = embedding_figure(*scatter_map(n), classes, groups=tuple("g" for _ in classes))  # groups unused
    assert legend_texts(fig) == [*classes, "misclassified"]
    assert "coloured" not in fig.axes[0].get_title()


def test_tsne_of_20_classes_takes_20_colours_with_a_legend():
    fig = embedding_figure(*scatter_map(20), named(20))
    assert legend_texts(fig) == [*named(20), "misclassified"]
    colours = {tuple(c.get_facecolor()[0]) for c in fig.axes[0].collections[:-1]}
    assert len(colours) == 20  # tab10 would give 10
    assert fig.axes[0].get_title().endswith("\ncoloured by class")


def test_tsne_of_100_classes_with_superclasses_colours_and_names_the_20_superclasses():
    groups = tuple(f"super_{k % 20:02d}" for k in range(100))
    coords, labels, predicted = scatter_map(100, points=1000)
    fig = embedding_figure(coords, labels, predicted, named(100), groups=groups)
    ax = fig.axes[0]
    assert legend_texts(fig) == [*sorted(set(groups)), "misclassified"]  # 20 entries and the rings, not 100
    assert ax.get_title().endswith("\ncoloured by superclass")
    for group in ax.collections[:-1]:  # one scatter per superclass: 5 classes of 10 images each
        assert len(group.get_offsets()) == 50
    with pytest.raises(ValueError, match="20 superclasses given for 100 classes"):
        embedding_figure(coords, labels, predicted, named(100), groups=groups[:20])


def test_tsne_of_100_classes_without_superclasses_leaves_out_the_legend_and_says_so():
    fig = embedding_figure(*scatter_map(100, points=1000), named(100))
    ax = fig.axes[0]
    assert legend_texts(fig) == ["misclassified"]
    assert ax.get_title().endswith("\ncoloured by class (100 classes, no legend)")
    colours = {tuple(c) for c in ax.collections[0].get_facecolors()}
    assert len(colours) == 100  # a colour per class, none repeated


def grid_titles(classes):
    n = 16
    labels = np.arange(n) % len(classes)
    predicted = (labels + 1) % len(classes)  # every image a mistake: two lines per title
    fig = prediction_grid(np.zeros((n, 3, 32, 32), np.uint8), labels, predicted, np.full(n, 0.999), classes, "t")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [ax.title.get_window_extent(renderer) for ax in fig.axes]
    overlapping = [k for k in range(n - 1) if (k + 1) % 8 and boxes[k].x1 > boxes[k + 1].x0]
    return [ax.title for ax in fig.axes[:n]], overlapping


@pytest.mark.parametrize("classes", [CIFAR10, LONG_NAMES])
def test_grid_titles_of_cifar_names_keep_their_size_and_do_not_overlap(classes):
    titles, overlapping = grid_titles(classes)
    assert {t.get_fontsize() for t in titles} == {GRID_FONT} and overlapping == []


def test_grid_titles_of_long_folder_names_shrink_and_are_cut_rather_than_overlap():
    titles, overlapping = grid_titles(LONG_NAMES + FOLDER_NAMES)
    assert overlapping == []
    assert max(t.get_fontsize() for t in titles) < GRID_FONT
    texts = " ".join(t.get_text() for t in titles)
    assert "golden_retriever_puppy" in texts  # shrunk to fit whole
    assert FOLDER_NAMES[1] not in texts and "a_very_long_" in texts and "…" in texts  # too long even so: cut

