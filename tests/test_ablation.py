"""The ablation benchmark's arithmetic (paired differences to the baseline, standard errors, its log) and the
budget benchmark's table."""
import json
import math

import pytest

from ablation import TECHNIQUES, TTA_MODES, mean_and_se, read_log, rows


def run(name: str, seed: int, acc: float, seconds: float = 10.0, settings=(), tta=None, recipe="defaults") -> dict:
    return {"name": name, "seed": seed, "recipe": recipe, "settings": list(settings), "acc": acc,
            "train_seconds": seconds, "tta": tta or {}}


def test_mean_and_standard_error():
    assert mean_and_se([0.5]) == (0.5, 0.0)
    mean, se = mean_and_se([0.1, 0.2, 0.6])
    assert mean == pytest.approx(0.3)
    assert se == pytest.approx(math.sqrt(((0.2 ** 2) + (0.1 ** 2) + (0.3 ** 2)) / 2) / math.sqrt(3))


def test_differences_are_paired_by_seed_and_tta_is_scored_against_the_same_models():
    tta = {mode: 0.0 for mode in TTA_MODES}
    runs = [run("baseline", 0, 0.40, tta={**tta, "flip": 0.43}), run("baseline", 1, 0.50, tta={**tta, "flip": 0.52}),
            run("ema", 1, 0.55, seconds=12.0), run("ema", 0, 0.41, seconds=11.0)]
    table = {name: (accs, diffs, seconds, ratios)
             for name, _, accs, diffs, seconds, ratios in rows(runs, ["baseline", "ema"])}
    assert table["baseline"][1] == [0.0, 0.0]
    assert table["ema"][0] == [0.41, 0.55]  # in seed order
    assert table["ema"][1] == pytest.approx([0.01, 0.05])  # each seed against the baseline of the same seed
    assert table["ema"][2] == [11.0, 12.0]
    assert table["ema"][3] == pytest.approx([1.1, 1.2])  # against the baseline's 10 s of the same seed
    assert table["tta flip"][1] == pytest.approx([0.03, 0.02])
    assert set(table) == {"baseline", "ema"} | {f"tta {mode}" for mode in TTA_MODES}


def test_the_log_keeps_only_runs_on_the_same_recipe_with_the_same_settings(tmp_path):
    log = tmp_path / "runs.jsonl"
    assert read_log(log, "defaults", []) == []
    lines = [run("baseline", 0, 0.4), run("baseline", 0, 0.6, settings=["train.epochs=2"]),
             run("baseline", 0, 0.5, recipe="recipes/fast.yaml")]
    log.write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert read_log(log, "defaults", []) == [lines[0]]
    assert read_log(log, "defaults", ["train.epochs=2"]) == [lines[1]]
    assert read_log(log, "recipes/fast.yaml", []) == [lines[2]]


def test_every_technique_is_a_valid_change_to_the_recipe_it_ablates():
    from ablation import FOUR_EPOCHS
    from committed import REPO, committed_params
    from resnet_cifar.overrides import apply_overrides, read_recipe
    recipe = apply_overrides(committed_params(), read_recipe(REPO / FOUR_EPOCHS))
    for name, (_, overrides) in TECHNIQUES.items():
        params = apply_overrides(recipe, overrides)
        assert (params != recipe) == (name != "baseline"), name


def test_budget_table_gives_each_recipes_training_time_as_a_ratio_to_the_first_and_its_tta_accuracy():
    from budget_recipes import Row, results_table

    def result(seconds: float, tta: float) -> dict:
        return {"epochs": 2, "train_images": 10, "image_size": 14, "precision": "fp32", "test_acc": 0.5,
                "test_images": 100, "test_loss": None, "full_test_acc": 0.5, "full_test_tta_acc": {"flip": tta},
                "train_seconds": seconds, "wall_seconds": seconds + 1}

    rows = [Row("old.yaml", "", result(200.0, 0.55)), Row("new.yaml", "train.lr=0.1", result(150.0, 0.575))]
    lines = results_table(rows, ["flip"]).splitlines()
    head = [cell.strip() for cell in lines[0].strip("|").split("|")]
    new = dict(zip(head, (cell.strip() for cell in lines[3].strip("|").split("|")), strict=True))
    assert len(lines) == 4 and lines[1].count("|") == len(head) + 1
    assert new["recipe"] == "new.yaml train.lr=0.1" and new["training / first"] == "0.75"
    assert new["training (s)"] == "150.0"
    assert new["with flip TTA (all 10,000)"] == "57.50%" and new["test loss"] == "null"


def test_budget_sweep_runs_each_value_and_the_curve_is_drawn(tmp_path):
    from budget_recipes import Row, accuracy_curve, by_recipe, planned_runs, sweep_values

    assert sweep_values("data.train_size=5000,10000") == ["data.train_size=5000", "data.train_size=10000"]
    assert sweep_values(None) == [""]
    assert sweep_values("train.early_image_sizes=[8,12],[],[12]") == [
        "train.early_image_sizes=[8,12]", "train.early_image_sizes=[]", "train.early_image_sizes=[12]"]
    assert planned_runs(["a.yaml", "b.yaml"], "train.epochs=2,3", "old.yaml") == [
        ("old.yaml", [""]), ("a.yaml", ["train.epochs=2", "train.epochs=3"]),
        ("b.yaml", ["train.epochs=2", "train.epochs=3"])]
    assert planned_runs(["a.yaml"], None) == [("a.yaml", [""])]
    point = {"device_name": "cpu", "device": "cpu", "precision": "fp32", "full_test_acc": 0.5,
             "full_test_tta_acc": {"flip": 0.52}}
    rows = [Row("my recipes/a.yaml", "data.train_size=5000", {**point, "train_seconds": 10.0}),
            Row("seed", "", {**point, "train_seconds": 5.0}),
            Row("my recipes/a.yaml", "data.train_size=10000", {**point, "train_seconds": 20.0})]
    assert by_recipe(rows) == {"my recipes/a.yaml": [rows[0], rows[2]], "seed": [rows[1]]}  # a space in a path too
    accuracy_curve(rows, ["flip"], tmp_path / "curve.png")
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
