import dataclasses
import re

import pytest

from committed import REPO, committed_params
from resnet_cifar.config import ModelParams, TrainParams
from resnet_cifar.errors import UserError
from resnet_cifar.overrides import apply_overrides, as_set_arguments, read_recipe

RECIPES = sorted((REPO / "recipes").glob("*.yaml"))


# The seed project's parameters, as its params.yaml held them.
SEED_MODEL = ModelParams(arch="resnet18", zero_init_residual=False, image_size=32)
SEED_TRAIN = TrainParams(epochs=1, early_image_sizes=[], batch_size=128, lr=0.1, momentum=0.9, weight_decay=1e-4,
                         nesterov=True, milestones=[60, 80], gamma=0.1, scheduler="multistep", warmup_epochs=0.0,
                         label_smoothing=0.0, flip="random", translate=4, padding="zeros",
                         ema_decay=0.0, bn_bias_lr_scale=1.0, precise_bn_batches=0, precision="auto", compile=False,
                         device="auto", nproc=1, remote_resume=False)


def test_recipes_exist():
    assert {p.stem for p in RECIPES} >= {"fast", "seed", "seed-full", "ten-minutes"}


def test_the_seed_recipe_turns_the_defaults_back_into_the_seed_parameters():
    defaults = committed_params()
    seed = apply_overrides(defaults, read_recipe(REPO / "recipes/seed.yaml"))
    assert (seed.model, seed.train) == (SEED_MODEL, SEED_TRAIN)
    assert seed.data == dataclasses.replace(defaults.data, train_size=5000, val_size=1000, test_size=1000)
    assert (seed.seed, seed.evaluate) == (defaults.seed, dataclasses.replace(defaults.evaluate, tta="none"))
    # seed-full.yaml's own keys are checked below, with every recipe's; the train params it leaves to the defaults
    # (train.early_image_sizes, precision...) must be the seed's too.
    full = apply_overrides(defaults, read_recipe(REPO / "recipes/seed-full.yaml"))
    assert full.train == dataclasses.replace(SEED_TRAIN, epochs=100)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_each_recipe_is_valid_against_params_yaml(recipe):
    overrides = read_recipe(recipe)
    params = apply_overrides(committed_params(), overrides)
    for key, value in overrides.items():
        section, name = key.split(".") if "." in key else (None, key)
        actual = getattr(getattr(params, section), name) if section else getattr(params, name)
        assert actual == value, key


def test_set_arguments_survive_the_shell_and_dvcs_override_grammar():
    """`dvc exp run $(python -m resnet_cifar.tools.recipes R)`: the shell splits the words at spaces (no quote
    removal in a command substitution), and DVC parses each -S value with Hydra's override grammar."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = {"train.milestones": [3, 6], "train.nesterov": False, "model.arch": "resnet34", "train.lr": 1e-6,
                 "data.url": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                 "data.md5": "12345678901234567890123456789012", "data.dataset": "it's"}
    words = " ".join(as_set_arguments(overrides)).split()
    assert words[::2] == ["-S"] * len(overrides)
    parsed = OverridesParser.create().parse_overrides(words[1::2])
    assert {o.key_or_group: o.value() for o in parsed} == overrides


def test_bad_override_is_rejected():
    with pytest.raises(UserError, match="train.lr must be > 0"):
        apply_overrides(committed_params(), {"train.lr": -1})
    with pytest.raises(UserError, match="unknown parameter 'train.lrr'"):
        apply_overrides(committed_params(), {"train.lrr": 1})


@pytest.mark.parametrize(("content", "message"), [
    (b"train:\n  lr: \xff\n", "is not UTF-8 text: invalid start byte at byte 13"),
    (b"- train.lr\n", "must be a mapping of params.yaml sections, got list"),
    (b"train: [1\n", "cannot read recipe"),
])
def test_a_recipe_that_cannot_be_read_is_one_line(tmp_path, content, message):
    path = tmp_path / "recipe.yaml"
    path.write_bytes(content)
    with pytest.raises(UserError, match=re.escape(message)) as err:
        read_recipe(path)
    assert "\n" not in str(err.value)
