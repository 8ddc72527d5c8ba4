"""The robustness report: which corruptions a params list means, the means it reports, and its figures."""
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from resnet_cifar.corruption_table import CORRUPTIONS, EXTRA, GROUPS, STANDARD, expand_corruptions
from resnet_cifar.figures.robustness import GRID_GAP, corruption_grid, robustness_figure
from resnet_cifar.robustness.report import (
    family_means,
    mean_accuracy,
    results_table,
    rounded,
    severity_means,
    summary,
)


def test_groups_expand_to_their_corruptions_in_canonical_order():
    assert expand_corruptions(["all"]) == CORRUPTIONS and len(CORRUPTIONS) == 19
    assert expand_corruptions(["standard"]) == STANDARD and len(STANDARD) == 15
    assert expand_corruptions(["extra"]) == EXTRA
    assert expand_corruptions(["standard", "extra"]) == CORRUPTIONS
    # Any order, overlaps and repeats name the same set, in CORRUPTIONS' order.
    assert expand_corruptions(["fog", "noise", "gaussian_noise", "fog"]) == (
        "gaussian_noise", "shot_noise", "impulse_noise", "fog")
    families = [name for name in GROUPS if name not in ("all", "standard")]
    assert families == ["noise", "blur", "weather", "digital", "extra"]
    assert sorted(n for f in families for n in GROUPS[f]) == sorted(CORRUPTIONS)  # a partition


def test_an_unknown_entry_is_named_with_the_closest_spelling():
    with pytest.raises(ValueError, match=r"'jpeg' is not a corruption or group \(did you mean 'jpeg_compression'\?\)"):
        expand_corruptions(["noise", "jpeg"])
    with pytest.raises(ValueError, match=r"^'zzz' is not a corruption or group; groups: all, "):
        expand_corruptions(["zzz"])


def test_checking_the_corruption_params_loads_neither_numpy_nor_torch():
    # config.py checks robustness.corruptions and .severities against corruption_table.py, which must stay plain
    # data: every stage's load_params() runs that check, and the check must not cost those imports.
    probe = ("import sys, resnet_cifar.config\n"
             "from resnet_cifar.corruption_table import expand_corruptions\n"
             "expand_corruptions(['standard', 'fog'])\n"
             "print(sorted({'numpy', 'torch', 'scipy', 'PIL'} & set(sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def table_of(accuracy: dict) -> pd.DataFrame:
    return results_table(accuracy)


def test_results_table_has_a_row_per_corruption_and_severity_with_its_family():
    table = table_of({("fog", 1): 0.8, ("fog", 3): 0.6, ("gaussian_noise", 1): 0.5, ("gaussian_noise", 3): 0.3})
    assert list(table.columns) == ["corruption", "family", "severity", "accuracy"]
    assert table.values.tolist() == [["fog", "weather", 1, 0.8], ["fog", "weather", 3, 0.6],
                                     ["gaussian_noise", "noise", 1, 0.5], ["gaussian_noise", "noise", 3, 0.3]]


def test_summary_of_standard_corruptions_only():
    table = table_of({("fog", 1): 0.8, ("fog", 3): 0.6, ("gaussian_noise", 1): 0.5, ("gaussian_noise", 3): 0.3})
    metrics = summary(table, clean_accuracy=0.9)
    assert metrics == pytest.approx({"clean_acc": 0.9, "corrupted_acc": 0.55, "relative_acc": 0.55 / 0.9})
    assert list(metrics) == ["clean_acc", "corrupted_acc", "relative_acc"]  # no 15-mean: no extras
    assert severity_means(table) == pytest.approx({1: 0.65, 3: 0.45})


def test_summary_with_extras_also_gives_the_mean_over_the_standard_fifteen():
    # Standard corruptions at accuracy 0.6 (severity 1) and 0.4 (severity 5), the extras at 0.9 and 0.7.
    accuracy = {}
    for name in CORRUPTIONS:
        high, low = (0.9, 0.7) if name in EXTRA else (0.6, 0.4)
        accuracy[name, 1], accuracy[name, 5] = high, low
    metrics = summary(table_of(accuracy), clean_accuracy=0.8)
    assert metrics["corrupted_acc_15"] == pytest.approx(0.5)
    assert metrics["corrupted_acc"] == pytest.approx((15 * 0.5 + 4 * 0.8) / 19)
    assert metrics["relative_acc"] == pytest.approx(metrics["corrupted_acc"] / 0.8)
    assert list(metrics) == ["clean_acc", "corrupted_acc", "corrupted_acc_15", "relative_acc"]
    assert severity_means(table_of(accuracy)) == pytest.approx({1: (15 * 0.6 + 4 * 0.9) / 19,
                                                                5: (15 * 0.4 + 4 * 0.7) / 19})
    # Extras beside only some of the fifteen: a "15" figure would not be the benchmark's, so there is none.
    partial = {key: value for key, value in accuracy.items() if key[0] != "fog"}
    assert "corrupted_acc_15" not in summary(table_of(partial), clean_accuracy=0.8)


def test_summary_of_a_model_right_on_no_clean_image_has_no_relative_accuracy():
    metrics = summary(table_of({("contrast", 2): 0.1}), clean_accuracy=0.0)
    assert metrics["relative_acc"] is None and metrics["corrupted_acc"] == pytest.approx(0.1)


def test_mean_of_nothing_is_an_error_not_nan():
    with pytest.raises(ValueError, match="no corruption"):
        mean_accuracy(table_of({}))


def test_family_means_per_severity_in_the_tables_order():
    table = table_of({("zoom_blur", 1): 0.6, ("zoom_blur", 2): 0.4, ("defocus_blur", 1): 0.8, ("defocus_blur", 2): 0.2,
                      ("fog", 1): 0.5, ("fog", 2): 0.1})
    means = family_means(table)
    assert list(means.index) == ["blur", "weather"] and list(means.columns) == [1, 2]
    np.testing.assert_allclose(means.values, [[0.7, 0.3], [0.5, 0.1]])


def test_rounded_rounds_nested_floats_and_keeps_the_rest():
    assert rounded({"a": 0.123456789, "b": None, "c": {"1": 2 / 3}, "d": 3}, digits=3) == {
        "a": 0.123, "b": None, "c": {"1": 0.667}, "d": 3}


def test_robustness_figure_has_a_panel_per_family_with_a_line_per_corruption_and_one_of_the_means():
    accuracy = {(name, s): 0.9 - 0.1 * s for name in ("gaussian_noise", "shot_noise", "fog") for s in (1, 3, 5)}
    fig = robustness_figure(table_of(accuracy), clean_accuracy=0.95)
    noise, weather, means = fig.axes
    assert [ax.get_title() for ax in fig.axes] == ["noise", "weather", "mean per family"]
    assert [line.get_label() for line in noise.get_lines()] == ["gaussian noise", "shot noise", "mean", "clean"]
    assert list(noise.get_lines()[2].get_ydata()) == pytest.approx([80, 60, 40])
    assert list(noise.get_lines()[3].get_ydata()) == pytest.approx([95, 95])  # the clean reference
    assert [line.get_label() for line in means.get_lines()] == ["noise", "weather", "clean"]
    assert list(means.get_lines()[1].get_ydata()) == pytest.approx([80, 60, 40])
    nineteen = {(name, s): 0.5 for name in CORRUPTIONS for s in (1, 5)}
    big = robustness_figure(table_of(nineteen), clean_accuracy=0.6)
    shown = [ax for ax in big.axes if ax.axison]
    assert len(big.axes) == 6 and len(shown) == 6  # five families and the means, two rows of three


def test_corruption_grid_puts_each_family_on_a_row_beside_the_clean_image():
    rng = np.random.default_rng(0)
    names = ("gaussian_noise", "shot_noise", "fog", "saturate")
    images = {name: rng.integers(0, 256, (3, 32, 32), dtype=np.uint8) for name in names}
    clean = rng.integers(0, 256, (3, 32, 32), dtype=np.uint8)
    fig = corruption_grid(clean, images, 3, "cat")
    [ax] = fig.axes
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["clean", "gaussian noise", "shot noise", "noise", "clean", "fog", "weather", "clean", "saturate",
                     "extra"]
    mosaic = ax.get_images()[0].get_array()
    step = 32 + GRID_GAP
    assert mosaic.shape == (3 * step, 3 * step - GRID_GAP, 3)  # three families, at most a clean image and two more

    def cell(row: int, col: int) -> np.ndarray:
        return mosaic[row * step + GRID_GAP:(row + 1) * step, col * step:col * step + 32]

    for row in range(3):
        assert (cell(row, 0) == clean.transpose(1, 2, 0)).all()
    assert (cell(0, 2) == images["shot_noise"].transpose(1, 2, 0)).all()
    assert (cell(2, 1) == images["saturate"].transpose(1, 2, 0)).all()
    assert (cell(1, 2) == 255).all()  # weather has one corruption here: the rest of its row is blank
    assert "severity 3" in ax.get_title() and "cat" in ax.get_title()
