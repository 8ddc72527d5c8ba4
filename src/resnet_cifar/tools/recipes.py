"""Recipes: named sets of parameter overrides (YAML files in recipes/), applied to params.yaml's values.

`python -m resnet_cifar.tools.recipes recipes/fast.yaml` prints the recipe as `-S key=value` arguments for
`dvc exp run`, so a recipe runs as an ordinary, comparable DVC experiment. Several recipes combine, a later one's
keys overriding an earlier one's: `recipes/cifar100.yaml recipes/ten-minutes.yaml` is that schedule on CIFAR-100.
The overrides themselves are resnet_cifar.overrides'.
"""
from __future__ import annotations

import sys

from ..config import load_params
from ..errors import report_user_errors
from ..overrides import apply_overrides, as_set_arguments, read_recipe


@report_user_errors
def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: python -m resnet_cifar.tools.recipes RECIPE.yaml [RECIPE.yaml ...]")
    overrides = {key: value for path in sys.argv[1:] for key, value in read_recipe(path).items()}
    apply_overrides(load_params(), overrides)  # fail here, not halfway through an experiment
    print(" ".join(as_set_arguments(overrides)))


if __name__ == "__main__":
    main()
