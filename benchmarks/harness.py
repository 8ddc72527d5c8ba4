"""What the benchmarks share: where the repository's files are, params.yaml with overrides, recipes trained and
tested the way the `train` and `evaluate` stages do, synthetic images, and the training throughput of the plain way
and of this project's engine on them."""
from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from plain_way import PilDataset, plain_step
from resnet_cifar import paths
from resnet_cifar.analysis.scores import Scores, score_logits
from resnet_cifar.config import Params, load_params, read_yaml_text
from resnet_cifar.data.batches import DeviceSplit
from resnet_cifar.data.dataset import Split
from resnet_cifar.engine.inference import predict_logits, tta_log_probs
from resnet_cifar.engine.run import RunFiles, build_trainer, run_training
from resnet_cifar.model.checkpoint import load_model
from resnet_cifar.model.resnet import build_model
from resnet_cifar.overrides import apply_overrides, read_recipe

# Found from this file, not the working directory, so the scripts on synthetic or named data run from anywhere.
REPO = Path(__file__).resolve().parents[1]
SEED_RECIPE = REPO / "recipes" / "seed.yaml"
# Where `dvc repro download` extracts the archive; relative, as the stages' paths are: run from the repository root.
RAW = paths.RAW_BATCHES


def params_with(overrides: dict) -> Params:
    """This repository's params.yaml with dotted-key `overrides` applied (validated as params.yaml is)."""
    return apply_overrides(load_params(REPO / "params.yaml"), overrides)


def recipe_overrides(name: str, settings: list[str]) -> dict:
    """The overrides of recipe file `name` (`seed`: recipes/seed.yaml, `defaults`: none), then the KEY=VALUE
    `settings` (YAML values) on top."""
    recipe = {} if name == "defaults" else read_recipe(SEED_RECIPE if name == "seed" else name)
    return recipe | {key: read_yaml_text(value) for key, value in (item.split("=", 1) for item in settings)}


def test_logits(model: nn.Module, test: DeviceSplit, params: Params) -> torch.Tensor:
    """The `evaluate` stage's logits: fp32 at evaluate.batch_size."""
    return predict_logits(model, test, params.evaluate.batch_size, precision="fp32")


def scores_on(model: nn.Module, split: Split, params: Params) -> Scores:
    """The `evaluate` stage's scores."""
    logits = test_logits(model, DeviceSplit(split, next(model.parameters()).device), params)
    return score_logits(logits.cpu().numpy(), split.labels)


def full_test_accuracies(model: nn.Module, split: Split, params: Params,
                         tta: Sequence[str]) -> tuple[float, dict[str, float]]:
    """Accuracy on `split`, and with the views of each evaluate.tta mode of `tta` averaged as the `evaluate` stage
    averages them (fp32; the plain view's logits computed once)."""
    test = DeviceSplit(split, next(model.parameters()).device)
    logits = test_logits(model, test, params)
    with_tta = {mode: score_logits(tta_log_probs(model, test, params.evaluate.batch_size, "fp32", mode, logits)
                                   .cpu().numpy(), split.labels).accuracy for mode in tta}
    return score_logits(logits.cpu().numpy(), split.labels).accuracy, with_tta


def train_recipe(params: Params, subsets: dict[str, Split], full_test: Split | None = None,
                 tta: Sequence[str] = ()) -> dict:
    """Train as the `train` stage does (its function, into a temporary folder) and test the best checkpoint as the
    `evaluate` stage does, on the test subset and, given `full_test`, on every official test image (also with each
    evaluate.tta mode of `tta`)."""
    with tempfile.TemporaryDirectory(prefix="budget-") as folder:
        files = RunFiles.under(Path(folder))
        start = time.perf_counter()
        run = run_training(params, subsets["train"], subsets["val"], files)
        wall = time.perf_counter() - start
        model, _ = load_model(files.best, run.trainer.train_data.device)
    scores = scores_on(model, subsets["test"], params)
    full, full_tta = full_test_accuracies(model, full_test, params, tta) if full_test is not None else (None, {})
    return {"test_acc": scores.accuracy, "test_loss": scores.loss, "full_test_acc": full, "full_test_tta_acc": full_tta,
            "train_seconds": run.train_seconds, "wall_seconds": wall, "epochs": params.train.epochs,
            "train_images": len(subsets["train"]), "test_images": len(subsets["test"]),
            "image_size": params.model.image_size, **run.provenance}


def synthetic_split(n: int, seed: int = 0) -> Split:
    """`n` random CIFAR-sized uint8 images with random labels of ten classes: a workload for timing, not learning."""
    rng = np.random.default_rng(seed)
    return Split(rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, n), np.arange(n),
                 tuple(str(i) for i in range(10)))


# The augmentation both ways run: the usual random 32x32 crop of the zero-padded image and random flip.
CROP_FLIP = {"train.flip": "random", "train.translate": 4, "train.padding": "zeros"}


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so that a clock read after it counts that work."""
    if device.type == "cuda":
        torch.cuda.synchronize()


def plain_images_per_sec(split: Split, arch: str, batch: int, warmup: int, steps: int, device: torch.device,
                         workers: int) -> float:
    """Images/s of the plain way (plain_way.py) over `steps` batches after `warmup` untimed ones."""
    torch.manual_seed(0)
    model = build_model(arch).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4)
    loader = torch.utils.data.DataLoader(PilDataset(split, params_with(CROP_FLIP).train), batch_size=batch,
                                         shuffle=True, num_workers=workers, drop_last=True,
                                         persistent_workers=workers > 0)
    criterion = nn.CrossEntropyLoss()
    done, start = 0, None
    while done < warmup + steps:
        for images, labels in loader:
            if done == warmup:
                sync(device)
                start = time.perf_counter()
            plain_step(model, optimizer, criterion, images.to(device), labels.to(device))
            done += 1
            if done == warmup + steps:
                break
    sync(device)
    return steps * batch / (time.perf_counter() - start)


def project_images_per_sec(split: Split, arch: str, batch: int, steps: int, device: torch.device, precision: str,
                           compile_model: bool) -> float:
    """The train stage's Trainer (built by `build_trainer`, params.yaml with the plain way's model, batch and
    augmentation) over `steps` batches twice: the first epoch warms up (and compiles), the second is timed.
    Validation (on one image) is excluded from the time."""
    params = params_with({
        "model.arch": arch, "model.image_size": 32, "train.batch_size": batch, **CROP_FLIP, "train.epochs": 2,
        "train.warmup_epochs": 0.5, "train.precision": precision, "train.compile": compile_model,
        "train.precise_bn_batches": 0, "evaluate.batch_size": 1})
    timed = Split(split.images[:steps * batch], split.labels[:steps * batch], split.source_index[:steps * batch],
                  split.classes)
    one = Split(split.images[:1], split.labels[:1], split.source_index[:1], split.classes)
    trainer = build_trainer(params, timed, one, device)
    trainer.train_epoch()
    return trainer.train_epoch().images_per_sec
