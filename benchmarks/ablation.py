"""Each speed-run technique on and off at a small budget, through the train stage's own path, on the official
CIFAR-10: test accuracy on all 10,000 official test images (mean and standard error over seeds) and training
seconds, every row against the baseline (the recipe as it is: recipes/four-epochs.yaml, which augments nothing,
unless --recipe names another) in the same run.

Each technique is one change to the recipe (TECHNIQUES). Every seed trains every setting, seed by seed, so that a
drift in machine load spreads over all of them; the same seed draws the same subsets and initial weights in every
setting, so the difference to the baseline is paired, and its standard error is that of the per-seed differences.
The test-time augmentations need no training: they are the baseline's models evaluated with evaluate.tta's views.
Run from the repository root after `dvc repro download`:

    python benchmarks/ablation.py                                  # every technique, seeds 0 1 2
    python benchmarks/ablation.py --only ema alternate --seeds 0 1 2 3 4
    python benchmarks/ablation.py --set data.train_size=10000      # the same at another budget
    python benchmarks/ablation.py --recipe recipes/fast.yaml       # ... or on top of another recipe
    python benchmarks/ablation.py --log runs.jsonl                 # append each run; rerun to continue after a stop
    python benchmarks/ablation.py --log runs.jsonl --report        # the table of the runs in the log, no training
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from harness import RAW, params_with, recipe_overrides, train_recipe
from resnet_cifar.data.cifar import read_cifar10
from resnet_cifar.data.dataset import make_subsets

# name: (what it is, its change to params.yaml)
TECHNIQUES: dict[str, tuple[str, dict]] = {
    "baseline": ("the recipe as it is", {}),
    "flip": ("random horizontal flip", {"train.flip": "random"}),
    "alternate": ("alternating flip", {"train.flip": "alternate"}),
    "translate": ("translate 2 px, reflect padding", {"train.translate": 2, "train.padding": "reflect"}),
    "smoothing": ("label smoothing 0.2", {"train.label_smoothing": 0.2}),
    "linear": ("warmup 0.3 epochs, linear decay", {"train.scheduler": "linear", "train.warmup_epochs": 0.3}),
    "bn_bias": ("BatchNorm biases at 16x lr", {"train.bn_bias_lr_scale": 16.0}),
    "ema": ("EMA of the weights, decay 0.98", {"train.ema_decay": 0.98}),
}
FOUR_EPOCHS = "recipes/four-epochs.yaml"  # the techniques' baseline: no augmentation, four epochs
TTA_MODES = ("flip", "flip_translate")  # evaluate.tta modes scored on the baseline's models


def mean_and_se(values: list[float]) -> tuple[float, float]:
    """The mean and its standard error (sample standard deviation / sqrt(n); 0 for one value)."""
    se = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else 0.0
    return statistics.fmean(values), se


def run_setting(name: str, seed: int, recipe: str, settings: list[str], full_train, full_test) -> dict:
    """Train the setting `name` at `seed` (on top of the `recipe`, named as `recipe_overrides` names recipes, and
    the --set `settings`) and test it."""
    overrides = recipe_overrides(recipe, settings) | TECHNIQUES[name][1] | {"seed": seed}
    params = params_with(overrides)
    subsets = make_subsets(full_train, full_test, params.data, params.seed)
    tta = TTA_MODES if name == "baseline" else ()
    result = train_recipe(params, subsets, full_test, tta=tta)
    return {"name": name, "seed": seed, "recipe": recipe, "settings": settings, "acc": result["full_test_acc"],
            "tta": result["full_test_tta_acc"], "train_seconds": result["train_seconds"],
            "device_name": result["device_name"], "device": result["device"], "precision": result["precision"],
            "torch": result["torch"]}


def read_log(path: Path | None, recipe: str, settings: list[str]) -> list[dict]:
    """The runs already in the log `path` made on the same recipe with the same --set `settings`."""
    if path is None or not path.exists():
        return []
    runs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in runs if (r["recipe"], r["settings"]) == (recipe, settings)]


Row = tuple[str, str, list[float], list[float], list[float], list[float]]


def rows(runs: list[dict], names: list[str]) -> list[Row]:
    """(name, description, accuracies, paired differences to the baseline, training seconds, paired ratios of
    training seconds to the baseline's) for every setting and every TTA mode, in seed order."""
    by = {(r["name"], r["seed"]): r for r in runs}
    seeds = sorted({r["seed"] for r in runs if r["name"] == "baseline"})
    base = {s: by["baseline", s] for s in seeds}
    table = []
    for name in names:
        mine = [by[name, s] for s in seeds if (name, s) in by]
        table.append((name, TECHNIQUES[name][0], [r["acc"] for r in mine],
                      [r["acc"] - base[r["seed"]]["acc"] for r in mine], [r["train_seconds"] for r in mine],
                      [r["train_seconds"] / base[r["seed"]]["train_seconds"] for r in mine]))
    for mode in TTA_MODES:
        mine = [base[s] for s in seeds]
        table.append((f"tta {mode}", f"baseline's models, evaluate.tta {mode}", [r["tta"][mode] for r in mine],
                      [r["tta"][mode] - r["acc"] for r in mine], [r["train_seconds"] for r in mine],
                      [1.0 for _ in mine]))
    return table


def print_table(runs: list[dict], names: list[str]) -> None:
    first = runs[0]
    seeds = sorted({r["seed"] for r in runs})
    print(f"\non {first['device_name']} ({first['device']}, {first['precision']}), torch {first['torch']}; "
          f"recipe {first['recipe']} {' '.join(first['settings'])}; seeds {' '.join(map(str, seeds))}; "
          "test accuracy on all 10,000 official test images")
    print("| setting | what | runs | test accuracy | vs baseline (paired) | training (s) | time ratio (paired) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for name, what, accs, diffs, seconds, ratios in rows(runs, names):
        if not accs:
            continue
        acc, acc_se = mean_and_se(accs)
        diff, diff_se = mean_and_se(diffs)
        versus = "" if name == "baseline" else f"{100 * diff:+.2f} ± {100 * diff_se:.2f}"
        print(f"| {name} | {what} | {len(accs)} | {100 * acc:.2f} ± {100 * acc_se:.2f}% | {versus} | "
              f"{statistics.fmean(seconds):.1f} | {statistics.fmean(ratios):.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="+", choices=list(TECHNIQUES), default=list(TECHNIQUES),
                    help="the settings to run (the baseline always runs)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--recipe", default=FOUR_EPOCHS,
                    help="the budget every setting changes: a recipe YAML file, or `defaults` for params.yaml "
                         "(default: %(default)s)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a change to the recipe under every setting (YAML value)")
    ap.add_argument("--log", type=Path, help="JSON lines file: each run is appended, and runs already there reused")
    ap.add_argument("--report", action="store_true", help="only print the table of the runs already in --log")
    args = ap.parse_args()
    if args.report and args.log is None:
        ap.error("--report reads the runs of --log")
    names = ["baseline"] + [n for n in args.only if n != "baseline"]
    runs = read_log(args.log, args.recipe, args.set)
    done = {(r["name"], r["seed"]) for r in runs}
    full_train, full_test = read_cifar10(RAW) if not args.report else (None, None)
    for seed in [] if args.report else args.seeds:
        for name in names:
            if (name, seed) in done:
                continue
            print(f"{name} seed {seed}: {TECHNIQUES[name][1]}", flush=True)
            run = run_setting(name, seed, args.recipe, args.set, full_train, full_test)
            print(f"{name} seed {seed}: test accuracy {run['acc']:.4f} in {run['train_seconds']:.1f} s", flush=True)
            runs.append(run)
            if args.log:
                with args.log.open("a") as log:
                    log.write(json.dumps(run) + "\n")
    print_table([r for r in runs if r["seed"] in args.seeds and r["name"] in names], names)


if __name__ == "__main__":
    main()
