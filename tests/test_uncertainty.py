"""Known values of the comparison's statistics (resnet_cifar.experiments.uncertainty) and what compare builds on
them: groups over seeds, varied columns, the width limit, the figure."""
import math

import pandas as pd
import pytest

from experiment_rows import from_exp_show_csv
from resnet_cifar.experiments.uncertainty import binomial_se, group_labels, mean_sd_se, pareto_front
from resnet_cifar.figures.experiments import plot_accuracy_vs_time
from resnet_cifar.tools.compare import comparison, point_labels, render


def test_binomial_standard_error():
    assert binomial_se(0.8, 1000) == pytest.approx(0.0126491106)  # sqrt(0.8 * 0.2 / 1000) = sqrt(0.00016)
    assert binomial_se(0.5, 100) == pytest.approx(0.05)  # sqrt(0.25 / 100)
    assert math.isnan(binomial_se(0.5, float("nan")))


def test_a_groups_mean_and_sd_by_hand():
    n, mean, sd, se = mean_sd_se(pd.Series([0.30, 0.34, 0.32]))
    # mean 0.32; deviations -0.02, 0.02, 0: sd = sqrt(0.0008 / 2) = 0.02; se = 0.02 / sqrt(3)
    assert (n, mean, sd, se) == (3, pytest.approx(0.32), pytest.approx(0.02), pytest.approx(0.02 / math.sqrt(3)))
    assert math.isnan(mean_sd_se(pd.Series([0.3]))[2])  # one run has no sd


def test_only_seed_differences_group():
    runs = pd.DataFrame({"seed": [0, 1, 0, 1], "train.lr": [0.1, 0.1, 0.2, 0.2], "train.flip": ["a"] * 4})
    labels = group_labels(runs, list(runs.columns))
    assert labels[0] == labels[1] and labels[2] == labels[3] and labels[0] != labels[2]
    runs.loc[1, "train.flip"] = "b"  # any other parameter splits
    assert len(set(group_labels(runs, list(runs.columns)))) == 3


def test_pareto_front_on_a_hand_made_set():
    acc = pd.Series([0.5, 0.6, 0.55, 0.7, 0.65])
    seconds = pd.Series([10, 20, 30, 40, 50])
    # 0.55 at 30 s is beaten by 0.6 at 20 s; 0.65 at 50 s by 0.7 at 40 s.
    assert list(pareto_front(acc, seconds)) == [True, True, False, True, False]


def sweep(extra: dict[str, list]) -> list:
    """`dvc exp show --csv`'s shape for 4 runs: seeds 0 and 1 of lr 0.1 and 0.2, on 1000 test images."""
    table = pd.DataFrame({
        "Experiment": ["a0", "a1", "b0", "b1"], "rev": ["r1", "r2", "r3", "r4"],
        "accuracy": [0.30, 0.34, 0.50, 0.52], "loss": [2.0] * 4, "time.train_seconds": [10.0, 12.0, 20.0, 22.0],
        "model.arch": ["resnet18"] * 4, "train.lr": [0.1, 0.1, 0.2, 0.2], "seed": [0, 1, 0, 1],
        "data.test_size": [1000] * 4, "stages/train.py": ["abc"] * 4, **extra})
    return from_exp_show_csv(table.to_csv(index=False))


def test_seed_groups_become_rows_with_n_mean_sd_and_standard_error():
    runs, _ = comparison(sweep({}))
    assert list(runs["group"]) == [1, 1, 2, 2] and list(runs["experiment"]) == ["b1", "b0", "a1", "a0"]
    assert runs["±"].iloc[0] == pytest.approx(math.sqrt(0.52 * 0.48 / 1000))
    groups, _ = comparison(sweep({}), grouped=True)
    assert list(groups["n"]) == [2, 2] and list(groups["acc"]) == [pytest.approx(0.51), pytest.approx(0.32)]
    assert groups["sd"].iloc[1] == pytest.approx(math.sqrt(0.0008))  # deviations +-0.02, ddof=1
    assert groups["±"].iloc[1] == pytest.approx(math.sqrt(0.0008) / math.sqrt(2))
    assert groups["seed"].isna().all() and list(groups["lr"]) == [0.2, 0.1]  # seed differs within each group


def test_every_varied_parameter_gets_a_column_and_no_metric_does():
    # train.loss: a metric (DVCLive's) under a params section's name.
    runs, _ = comparison(sweep({"train.flip": ["none", "none", "random", "random"], "train.loss": [1, 2, 3, 4],
                                "train.ema_decay": [0.9] * 4}))
    assert "flip" in runs and "seed" in runs and "train.loss" not in runs and "ema_decay" not in runs


def test_many_varied_parameters_still_fit_120_columns():
    extra = {f"train.{key}": [i, i, i + 1, i + 1] for i, key in enumerate(("momentum", "weight_decay", "gamma",
             "warmup_epochs", "label_smoothing", "ema_decay", "bn_bias_lr_scale", "translate", "precise_bn_batches"))}
    groups, _ = comparison(sweep(extra), grouped=True)
    lines = render(groups).splitlines()
    assert max(map(len, lines)) <= 120
    header = lines[0].split()
    assert header[:2] == ["experiment", "n"] and {"acc", "±", "sd"} <= set(header)
    assert "arch" not in header  # a fixed setting every row shares goes before any varied parameter
    assert "not shown" in render(groups)  # the parameters left out are named


def test_points_are_labelled_by_the_settings_that_tell_the_rows_apart():
    groups, _ = comparison(sweep({}), grouped=True)
    assert list(point_labels(groups)) == ["lr=0.2 (n=2)", "lr=0.1 (n=2)"]  # not the seed, not arch (shared)
    single = comparison(sweep({}))[0].iloc[:1]
    assert list(point_labels(single)) == ["b1"]  # nothing differs: the experiment's name


def test_the_plot_file_is_written(tmp_path):
    groups, _ = comparison(sweep({}), grouped=True)
    path = tmp_path / "compare.png"
    plot_accuracy_vs_time(groups, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
