"""Recipes: named sets of parameter overrides (YAML files in recipes/), applied to params.yaml's values.

`python -m resnet_cifar.tools.recipes recipes/fast.yaml` prints the recipe as `-S key=value` arguments for
`dvc exp run`, so a recipe runs as an ordinary, comparable DVC experiment. The overrides themselves are
resnet_cifar.overrides'.
"""
from __future__ import annotations

import sys

from ..config import load_params
from ..overrides import apply_overrides, as_set_arguments, read_recipe


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python -m resnet_cifar.tools.recipes RECIPE.yaml")
    overrides = read_recipe(sys.argv[1])
    apply_overrides(load_params(), overrides)  # fail here, not halfway through an experiment
    print(" ".join(as_set_arguments(overrides)))


if __name__ == "__main__":
    main()
