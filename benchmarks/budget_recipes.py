"""Accuracy and wall time of training recipes at a fixed budget, through the same code as the `train` stage.

For each recipe (a recipes/*.yaml file; `seed` for recipes/seed.yaml, the seed project's one-epoch recipe;
`defaults` for params.yaml unchanged) it draws the recipe's subsets from the archive that `dvc repro download`
extracted (data/raw), trains, picks the best epoch by validation accuracy, and reports test accuracy and the
training wall time (epochs plus per-epoch validation, precise BN included). Run from the repository root after
`dvc repro download`:

    python benchmarks/budget_recipes.py defaults seed recipes/ten-minutes.yaml
    python benchmarks/budget_recipes.py defaults --set train.lr=0.3   # explore around a recipe
    python benchmarks/budget_recipes.py defaults seed --set train.precise_bn_batches=0   # without precise BN
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import yaml  # noqa: E402

from resnet_cifar.config import Params, load_params  # noqa: E402
from resnet_cifar.data.batches import DeviceSplit  # noqa: E402
from resnet_cifar.data.dataset import Split, make_subsets, read_cifar10  # noqa: E402
from resnet_cifar.engine.device import resolve_device, resolve_precision  # noqa: E402
from resnet_cifar.engine.inference import loss_and_accuracy, predict_logits  # noqa: E402
from resnet_cifar.engine.trainer import Trainer, seed_everything  # noqa: E402
from resnet_cifar.model.resnet import model_from_params  # noqa: E402
from resnet_cifar.tools.recipes import apply_overrides, read_recipe  # noqa: E402

RAW = Path("data/raw/cifar-10-batches-py")
SEED_RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "seed.yaml"


def run_recipe(overrides: dict, full_train, full_test) -> dict:
    params = apply_overrides(load_params(), overrides)
    return train_recipe(params, make_subsets(full_train, full_test, params.data, params.seed))


def train_recipe(params: Params, subsets: dict[str, Split]) -> dict:
    """Train as the `train` stage does, keep the best epoch by validation accuracy, and test it."""
    generator = seed_everything(params.seed)
    device = resolve_device(params.train.device)
    precision = resolve_precision(params.train.precision, device)
    splits = {name: DeviceSplit(split, device) for name, split in subsets.items()}
    model = model_from_params(params.model)
    trainer = Trainer(model, splits["train"], splits["val"], params.train, precision, generator,
                      params.evaluate.batch_size)
    start = time.perf_counter()
    while trainer.epoch < params.train.epochs:
        r = trainer.train_epoch()
        print(f"  epoch {r.epoch}: val acc {r.val_acc:.3f}, {r.images_per_sec:.0f} img/s", flush=True)
    seconds = time.perf_counter() - start
    trainer.model.load_state_dict(trainer.best_state)
    loss, accuracy = loss_and_accuracy(predict_logits(trainer.model, splits["test"], 500), splits["test"].labels)
    return {"test_acc": accuracy, "test_loss": loss, "seconds": seconds, "epochs": params.train.epochs,
            "train_images": len(splits["train"]), "image_size": params.model.image_size, "precision": precision}


def recipe_overrides(name: str, settings: list[str]) -> dict:
    """The overrides of recipe file `name` (`seed`: recipes/seed.yaml, `defaults`: none), then the KEY=VALUE
    `settings` (YAML values) on top."""
    recipe = {} if name == "defaults" else read_recipe(SEED_RECIPE if name == "seed" else name)
    return recipe | {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in settings)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("recipes", nargs="+", help="recipe YAML files, `seed` for recipes/seed.yaml, `defaults` for params.yaml as it is")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra override, YAML value")
    args = ap.parse_args()
    full_train, full_test, _ = read_cifar10(RAW)
    rows = []
    for name in args.recipes:
        overrides = recipe_overrides(name, args.set)
        print(f"{name} {overrides}", flush=True)
        rows.append((name, run_recipe(overrides, full_train, full_test)))
    print("\n| recipe | epochs | train images | image size | precision | test accuracy | test loss | wall time (s) |")
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
    for name, r in rows:
        print(f"| {name} | {r['epochs']} | {r['train_images']} | {r['image_size']} | {r['precision']} | "
              f"{100 * r['test_acc']:.1f}% | {r['test_loss']:.3f} | {r['seconds']:.1f} |")


if __name__ == "__main__":
    main()
