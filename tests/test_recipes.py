import shlex
from pathlib import Path

import pytest
import yaml

from resnet_cifar.config import load_params
from resnet_cifar.errors import UserError
from resnet_cifar.tools.recipes import apply_overrides, as_set_arguments, read_recipe

REPO = Path(__file__).resolve().parents[1]
RECIPES = sorted((REPO / "recipes").glob("*.yaml"))


def test_recipes_exist():
    assert {p.stem for p in RECIPES} >= {"fast", "ten-minutes"}


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_each_recipe_is_valid_against_params_yaml(recipe):
    overrides = read_recipe(recipe)
    params = apply_overrides(load_params(REPO / "params.yaml"), overrides)
    for key, value in overrides.items():
        section, name = key.split(".") if "." in key else (None, key)
        actual = getattr(getattr(params, section), name) if section else getattr(params, name)
        assert actual == value, key


def test_set_arguments_survive_the_shell_and_yaml():
    overrides = {"train.milestones": [3, 6], "train.nesterov": False, "model.arch": "resnet34", "train.lr": 0.2}
    words = shlex.split(" ".join(as_set_arguments(overrides)))
    assert words[::2] == ["-S"] * 4
    parsed = {w.split("=", 1)[0]: yaml.safe_load(w.split("=", 1)[1]) for w in words[1::2]}
    assert parsed == overrides


def test_bad_override_is_rejected():
    with pytest.raises(UserError, match="train.lr must be > 0"):
        apply_overrides(load_params(REPO / "params.yaml"), {"train.lr": -1})
    with pytest.raises(UserError, match="unknown parameter 'train.lrr'"):
        apply_overrides(load_params(REPO / "params.yaml"), {"train.lrr": 1})
