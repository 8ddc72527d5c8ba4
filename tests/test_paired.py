"""The paired comparison of two experiments (compare --versus): its statistics, and the command on real DVC."""
import math

import numpy as np
import pytest
import yaml

from project import run
from resnet_cifar.errors import UserError
from resnet_cifar.experiments.paired import (
    Paired,
    Scored,
    compare_pair,
    difference_interval,
    mcnemar_p,
    paired_counts,
    report,
    subset_md5,
)
from resnet_cifar.experiments.store import ExperimentStore


def exact_mcnemar(b: int, c: int) -> float:
    """The two-sided exact McNemar p-value from its formula: 2 * P(X <= min(b, c)), X ~ Binomial(b + c, 1/2)."""
    tail = sum(math.comb(b + c, k) for k in range(min(b, c) + 1)) / 2 ** (b + c)
    return min(1.0, 2 * tail)


def scored(name: str, labels, predicted, md5: str = "abc") -> Scored:
    return Scored(name=name, subset_md5=md5, labels=np.asarray(labels), predicted=np.asarray(predicted))


def test_mcnemar_on_a_hand_made_table():
    assert mcnemar_p(10, 2) == pytest.approx(exact_mcnemar(10, 2), rel=1e-12)
    assert exact_mcnemar(10, 2) == 0.03857421875  # 2 * (1 + 12 + 66) / 4096
    assert mcnemar_p(2, 10) == mcnemar_p(10, 2)
    assert mcnemar_p(5, 5) == 1.0


def test_no_discordant_pair_is_no_evidence():
    assert mcnemar_p(0, 0) == 1.0
    assert difference_interval(0, 0, 100) == (0.0, 0.0, 0.0)


def test_wald_interval_for_paired_proportions_on_a_hand_case():
    # b = 30, c = 10 of n = 200: d = 0.1, variance ((b + c) / n - d^2) / n = (0.2 - 0.01) / 200.
    d, low, high = difference_interval(30, 10, 200)
    half = 1.959963984540054 * math.sqrt(0.19 / 200)
    assert d == pytest.approx(0.1) and low == pytest.approx(0.1 - half) and high == pytest.approx(0.1 + half)


def test_interval_is_clipped_to_the_possible_differences():
    # All 3 images discordant for A: d = 1 and the Wald half-width is 0; one of 3 the other way widens it past 1.
    assert difference_interval(3, 0, 3) == (1.0, 1.0, 1.0)
    d, low, high = difference_interval(2, 0, 3)
    assert high == 1.0 and low < d < high


def test_counts_and_accuracies_from_predictions():
    labels = [0, 1, 2, 3, 4, 5]
    paired = paired_counts(scored("a", labels, [0, 1, 2, 3, 9, 9]), scored("b", labels, [0, 9, 9, 3, 4, 9]))
    assert paired == Paired(b=2, c=1, n=6, acc_a=4 / 6, acc_b=3 / 6)


def test_different_test_subsets_are_refused():
    with pytest.raises(UserError, match="different test subsets.*seed"):
        paired_counts(scored("a", [0, 1], [0, 1], md5="x"), scored("b", [0, 1], [0, 1], md5="y"))


def test_different_labels_are_refused():
    with pytest.raises(UserError, match="different test labels"):
        paired_counts(scored("a", [0, 1], [0, 1]), scored("b", [1, 0], [0, 1]))
    with pytest.raises(UserError, match="different test labels"):
        paired_counts(scored("a", [0, 1], [0, 1]), scored("b", [0, 1, 2], [0, 1, 2]))


def test_report_says_who_wins_beyond_noise_and_when_it_is_noise():
    assert "a better beyond noise: p = 0.0386" in report("a", "b", Paired(b=10, c=2, n=100, acc_a=0.6, acc_b=0.52))
    assert "b better beyond noise" in report("a", "b", Paired(b=2, c=10, n=100, acc_a=0.52, acc_b=0.6))
    lines = report("a", "b", Paired(b=3, c=2, n=100, acc_a=0.51, acc_b=0.5)).splitlines()
    assert lines[-1] == f"within noise: p = {exact_mcnemar(3, 2):.3g}" and len(lines) <= 6


def test_a_lock_without_the_evaluate_stage_is_refused():
    assert subset_md5(yaml.safe_dump({"stages": {"evaluate": {"deps": [
        {"path": "models/best.pt", "md5": "m"}, {"path": "data/subsets/test.npz", "md5": "t"}]}}}), "a") == "t"
    with pytest.raises(UserError, match="no evaluate stage"):
        subset_md5(yaml.safe_dump({"stages": {"train": {}}}), "a")


def test_an_unknown_experiment_name_is_refused(tmp_path):
    from dvc.repo import Repo
    run(tmp_path, "git", "init", "-q", "-b", "main")
    run(tmp_path, "git", "commit", "-q", "--allow-empty", "-m", "start")
    Repo.init(str(tmp_path)).close()
    with ExperimentStore(tmp_path) as store:
        assert store.revision("workspace") is None
        assert store.revision("main") == store.repo.scm.get_rev()
        with pytest.raises(UserError, match="no experiment or git revision named 'no-such-exp'"):
            store.revision("no-such-exp")
        with pytest.raises(UserError, match="workspace has no results/predictions.npz"):
            store.read_bytes("workspace", "results/predictions.npz")
        with pytest.raises(UserError, match="main has no dvc.lock"):
            store.read_bytes("main", "dvc.lock")


def test_a_folder_outside_a_project_is_refused(tmp_path):
    with pytest.raises(UserError, match="not in a DVC project"):
        compare_pair("a", "b", root=tmp_path)
