"""Accuracy and wall time of training recipes at a fixed budget, through the same code as the `train` stage.

For each recipe (a recipes/*.yaml file; `seed` for recipes/seed.yaml, the seed project's one-epoch recipe;
`defaults` for params.yaml unchanged) it draws the recipe's subsets from the archive that `dvc repro download`
extracted (data/raw), trains with the train stage's own function (`run_training`: resume, DVCLive log and
checkpoints, into a temporary folder), tests the best checkpoint as the evaluate stage does, on the recipe's test
subset and on all 10,000 official test images, and reports test accuracy, the training time (what the train stage
records as time.train_seconds: the epochs without validation) and the wall time of the whole run. Run from the
repository root after `dvc repro download`:

    python benchmarks/budget_recipes.py defaults seed recipes/ten-minutes.yaml
    python benchmarks/budget_recipes.py defaults --set train.lr=0.3   # explore around a recipe
    python benchmarks/budget_recipes.py defaults seed --set train.precise_bn_batches=0   # without precise BN
    python benchmarks/budget_recipes.py old.yaml defaults --tta flip_translate   # also scored with TTA's views
    python benchmarks/budget_recipes.py defaults --sweep data.train_size=5000,10000 --plot curve.png
    python benchmarks/budget_recipes.py new.yaml --baseline old.yaml --sweep train.epochs=2,3 --plot curve.png
    python benchmarks/budget_recipes.py new.yaml --sweep "train.early_image_sizes=[8,12],[12,12]"

The training time of every recipe is also given as a ratio to the first recipe's, measured in the same run;
`--baseline` names a recipe that runs first, once, outside the --sweep.
"""
from __future__ import annotations

import argparse
import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from harness import RAW, params_with, recipe_overrides, train_recipe
from resnet_cifar.config import TTA_MODES
from resnet_cifar.data.cifar import read_cifar10
from resnet_cifar.data.dataset import Split, make_subsets
from resnet_cifar.model.small_maps import small_map_gemm


def run_recipe(overrides: dict, full_train: Split, full_test: Split, tta: Sequence[str] = ()) -> dict:
    params = params_with(overrides)
    return train_recipe(params, make_subsets(full_train, full_test, params.data, params.seed), full_test, tta)


class Row(NamedTuple):
    """One run: its recipe (a file, `seed` or `defaults`), the --sweep setting it ran with ("" if none), and
    train_recipe's result."""

    recipe: str
    setting: str
    result: dict

    @property
    def name(self) -> str:
        return f"{self.recipe} {self.setting}".strip()


def results_table(rows: list[Row], tta: Sequence[str]) -> str:
    """The Markdown table of `rows`; training time also as a ratio to the first row's."""
    first = rows[0].result["train_seconds"]
    head = ["recipe", "epochs", "train images", "image size", "precision", "test accuracy (test subset)",
            "test loss", "test accuracy (all 10,000)", *(f"with {mode} TTA (all 10,000)" for mode in tta),
            "training (s)", "training / first", "wall (s)"]
    lines = ["| " + " | ".join(head) + " |", "| --- | ---: | ---: | ---: | --- | " + "---: | " * (len(head) - 5)]
    for row in rows:
        r = row.result
        loss = "null" if r["test_loss"] is None else f"{r['test_loss']:.3f}"
        cells = [row.name, r["epochs"], r["train_images"], r["image_size"], r["precision"],
                 f"{100 * r['test_acc']:.2f}% of {r['test_images']}", loss, f"{100 * r['full_test_acc']:.2f}%",
                 *(f"{100 * r['full_test_tta_acc'][mode]:.2f}%" for mode in tta),
                 f"{r['train_seconds']:.1f}", f"{r['train_seconds'] / first:.2f}", f"{r['wall_seconds']:.1f}"]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(line.rstrip() for line in lines)


def by_recipe(rows: list[Row]) -> dict[str, list[Row]]:
    """`rows` grouped by recipe, in the order the recipes first appear."""
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.recipe, []).append(row)
    return groups


def accuracy_curve(rows: list[Row], tta: Sequence[str], path: Path) -> None:
    """Test accuracy on all 10,000 images against training seconds, a line per recipe through its --sweep values,
    with each TTA mode's accuracy as its own dashed line."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for index, (recipe, mine) in enumerate(by_recipe(rows).items()):
        seconds = [row.result["train_seconds"] for row in mine]
        color = f"C{index}"
        ax.plot(seconds, [100 * row.result["full_test_acc"] for row in mine], "o-", color=color,
                label=Path(recipe).stem)
        for style, mode in zip(("s--", "^:"), tta, strict=False):
            ax.plot(seconds, [100 * row.result["full_test_tta_acc"][mode] for row in mine], style, color=color,
                    label=f"{Path(recipe).stem}, {mode} TTA")
        for row, x in zip(mine, seconds, strict=True):
            ax.annotate(row.setting, (x, 100 * row.result["full_test_acc"]), textcoords="offset points",
                        xytext=(4, -12), fontsize=7)
    first = rows[0].result
    ax.set(xlabel="training seconds (time.train_seconds)", ylabel="test accuracy on all 10,000 images (%)",
           title=f"ResNet-18 on {first['device_name']} ({first['device']}, {first['precision']})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def sweep_values(sweep: str | None) -> list[str]:
    """The KEY=VALUE settings of `--sweep KEY=V1,V2,...` (none: one run without); a comma inside brackets belongs
    to its value (`train.early_image_sizes=[8,12],[12]`: two values)."""
    if sweep is None:
        return [""]
    key, _, values = sweep.partition("=")
    parts, depth, start = [], 0, 0
    for i, char in enumerate(values + ","):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(values[start:i])
            start = i + 1
    return [f"{key}={value}" for value in parts]


def planned_runs(recipes: list[str], sweep: str | None, baseline: str | None = None) -> list[tuple[str, list[str]]]:
    """Each recipe to run, in order, with its --sweep settings: the `baseline` (if any) first and once."""
    return ([(baseline, sweep_values(None))] if baseline else []) + [(name, sweep_values(sweep)) for name in recipes]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("recipes", nargs="+",
                    help="recipe YAML files, `seed` for recipes/seed.yaml, `defaults` for params.yaml as it is")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra override, YAML value")
    ap.add_argument("--sweep", metavar="KEY=V1,V2,...", help="run each recipe once per value of KEY")
    ap.add_argument("--baseline", metavar="RECIPE",
                    help="a recipe run first and once, without the --sweep: the reference of the time ratios")
    ap.add_argument("--tta", action="append", default=[], choices=[m for m in TTA_MODES if m != "none"],
                    help="also score each recipe on all 10,000 test images with this evaluate.tta mode")
    ap.add_argument("--plot", type=Path, metavar="PNG", help="draw test accuracy against training seconds")
    ap.add_argument("--first-without-gemm", action="store_true",
                    help="train the first recipe (the --baseline, if given) with oneDNN's convolution everywhere, as "
                         "the engine did before the GEMM path for tiny maps (model/small_maps.py): a same-run "
                         "baseline of the older code")
    args = ap.parse_args()
    full_train, full_test = read_cifar10(RAW)
    rows = []
    for index, (name, settings) in enumerate(planned_runs(args.recipes, args.sweep, args.baseline)):
        without_gemm = args.first_without_gemm and index == 0
        for setting in settings:
            overrides = recipe_overrides(name, args.set + [setting] if setting else args.set)
            print(f"{name} {overrides}{' (without the GEMM path)' if without_gemm else ''}", flush=True)
            with small_map_gemm(False) if without_gemm else contextlib.nullcontext():  # else this CPU's default
                result = run_recipe(overrides, full_train, full_test, args.tta)
            rows.append(Row(name, f"{setting} without GEMM".strip() if without_gemm else setting, result))
    first = rows[0].result
    print(f"\non {first['device_name']} ({first['device']}), torch {first['torch']}")
    print(results_table(rows, args.tta))
    if args.plot:
        accuracy_curve(rows, args.tta, args.plot)


if __name__ == "__main__":
    main()
