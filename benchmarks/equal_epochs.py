"""Test accuracy at equal epochs: the plain way against this project's engine, same subsets, hyperparameters,
epochs and seed, for several seeds.

The engine changes how a step is computed (bf16 autocast, channels_last, batched crop/flip on uint8 tensors), not
what is learned; this checks that it costs no accuracy beyond noise. For a seed both start from the same weights
and subsets, but shuffle and crop with their own random streams, which alone moves a 3-epoch result by a point or
two: hence several seeds, a large test set, and the standard error of the paired difference. Both keep the epoch
with the best validation accuracy and are tested in fp32, as the `evaluate` stage does. Run from the repository
root after `dvc repro download` (the plain way takes about 2.3 times as long as the project's):

    python benchmarks/equal_epochs.py recipes/seven-epochs.yaml --set data.train_size=5000 --set data.test_size=10000 \
        --set train.epochs=3 --set train.warmup_epochs=1 --set train.lr=0.2 --set model.image_size=32 \
        --seeds 0 1 2 3 4
"""
from __future__ import annotations

import argparse
import statistics

import torch

from harness import RAW, params_with, recipe_overrides, train_recipe
from plain_way import train_plain
from resnet_cifar.data.batches import DeviceSplit
from resnet_cifar.data.cifar import read_cifar10
from resnet_cifar.data.dataset import make_subsets
from resnet_cifar.engine.inference import loss_and_accuracy, predict_logits


def mean_and_spread(values: list[float]) -> str:
    spread = f" ± {100 * statistics.stdev(values):.1f}" if len(values) > 1 else ""
    return f"{100 * statistics.mean(values):.1f}%{spread}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("recipe",
                    help="recipe YAML file, `seed` for recipes/seed.yaml, `defaults` for params.yaml as it is")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra override, YAML value")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers for the plain way")
    args = ap.parse_args()
    overrides = recipe_overrides(args.recipe, args.set)
    full_train, full_test = read_cifar10(RAW)
    rows = []
    for seed in args.seeds:
        params = params_with(overrides | {"seed": seed})
        print(f"seed {seed}: {params.model.arch}, {params.train.epochs} epochs over {params.data.train_size} images",
              flush=True)
        subsets = make_subsets(full_train, full_test, params.data, params.seed)
        test = DeviceSplit(subsets["test"], torch.device("cpu"))
        model = train_plain(params, subsets, args.workers)
        _, plain_acc = loss_and_accuracy(predict_logits(model, test, params.evaluate.batch_size), test.labels)
        project_acc = train_recipe(params, subsets)["test_acc"]
        print(f"seed {seed}: plain {100 * plain_acc:.1f}%, project {100 * project_acc:.1f}%", flush=True)
        rows.append((seed, plain_acc, project_acc))
    print("\n| seed | plain (fp32, NCHW, PIL workers) | project | difference |")
    print("| ---: | ---: | ---: | ---: |")
    for seed, plain, project in rows:
        print(f"| {seed} | {100 * plain:.1f}% | {100 * project:.1f}% | {100 * (project - plain):+.1f} |")
    plain, project = [r[1] for r in rows], [r[2] for r in rows]
    differences = [b - a for a, b in zip(plain, project)]
    print(f"| mean ± sd | {mean_and_spread(plain)} | {mean_and_spread(project)} | "
          f"{100 * statistics.mean(differences):+.1f} |")
    if len(differences) > 1:
        # Paired by seed: same subsets and initial weights, but each way draws its own data order and crops.
        error = statistics.stdev(differences) / len(differences) ** 0.5
        print(f"\nmean difference {100 * statistics.mean(differences):+.1f} points, standard error {100 * error:.1f} "
              f"over {len(differences)} seeds")


if __name__ == "__main__":
    main()
