"""One run on a CUDA machine that checks the GPU path end to end, with neither DVC nor a network.

    python benchmarks/gpu_check.py --data DIR [--recipe recipes/gpu-94.yaml] [--set KEY=VALUE] [--parts PARTS]
    python benchmarks/gpu_check.py --data DIR --device cpu --smoke    # a quick rehearsal of the script itself

DIR is an extracted `cifar-10-batches-py` folder, as `dvc repro download` leaves in data/raw. The parts, in order:

tests      the tests of the trainer, batches, inference, models and checkpoints with CUDA visible, so the
           device-parametrised ones run on the GPU too (their CUDA cases: deterministic algorithms)
accuracy   ResNet-18 with the recipe through the `train` stage's engine on all 50,000 training images; the whole
           test set is scored after every epoch, only to report the training time to each accuracy milestone (the
           result is the last epoch's model, chosen by nothing)
speed      images/s of the plain way (fp32, NCHW, torchvision PIL transforms in DataLoader workers) and of the engine,
           same model, batch and GPU, and their ratio
precision  fp16 (with gradient scaling) and bf16 both train; with deterministic algorithms, a run interrupted after
           one epoch and resumed from its saved state ends identical to the uninterrupted run
plain-accuracy  (only when named in --parts) the recipe trained the plain way, to tell what the data and recipe
           allow from what the engine does

A part that fails is reported and the others still run; the exit status is the number of parts that failed.
`--smoke` shrinks every part (a few hundred images, two epochs, a few steps) to rehearse the script anywhere.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import os
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import torch

from harness import REPO, params_with, plain_images_per_sec, project_images_per_sec, recipe_overrides, synthetic_split
from plain_way import train_plain
from resnet_cifar.config import Params
from resnet_cifar.data.batches import DeviceSplit
from resnet_cifar.data.cifar import read_cifar10
from resnet_cifar.data.dataset import Split
from resnet_cifar.engine.device import resolve_precision
from resnet_cifar.engine.inference import loss_and_accuracy, predict_logits, tta_log_probs
from resnet_cifar.engine.run import RunFiles, TrainedRun, run_training
from resnet_cifar.model.checkpoint import load_model, read_checkpoint

MILESTONES = (0.80, 0.90, 0.93, 0.94, 0.95)
GPU_TESTS = ("tests/test_training.py", "tests/test_data.py", "tests/test_analysis.py", "tests/test_models.py",
             "tests/test_checkpoint.py")
PARTS = ("tests", "accuracy", "speed", "precision")  # plain-accuracy: on request (--parts)


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclasses.dataclass(frozen=True)
class Setup:
    recipe: Path
    overrides: dict  # the recipe's, then --set's
    device: torch.device
    smoke: bool  # tiny sizes: a rehearsal of the script, not a measurement

    def params(self, **train_overrides) -> Params:
        params = params_with(self.overrides)
        if self.smoke:
            train_overrides = {"epochs": 2, "warmup_epochs": 0.5, "batch_size": 64} | train_overrides
        train = dataclasses.replace(params.train, device=self.device.type, **train_overrides)
        return dataclasses.replace(params, train=train)

    def size(self, n: int) -> int:
        return min(n, 300) if self.smoke else n


def head(split: Split, n: int) -> Split:
    return dataclasses.replace(split, images=split.images[:n], labels=split.labels[:n],
                               source_index=split.source_index[:n])


def run_tests(pytest_args: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=5",
                             *pytest_args], cwd=REPO)
    if result.returncode != 0:
        raise RuntimeError(f"pytest exited with status {result.returncode}")


@contextlib.contextmanager
def trained(params: Params, train_split: Split, val_split: Split, on_epoch=None,
            folder: Path | None = None) -> Iterator[tuple[TrainedRun, RunFiles]]:
    """A run of the train stage's own function (`run_training`) with its files in `folder` (default: a temporary
    one), validating on `val_split` after every epoch."""
    with contextlib.ExitStack() as stack:
        root = folder or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gpu-check-")))
        files = RunFiles.under(root)
        yield run_training(params, train_split, val_split, files, on_epoch=on_epoch), files


def check_accuracy(setup: Setup, full_train: Split, full_test: Split) -> None:
    params = setup.params()
    train_split, test_split = head(full_train, setup.size(len(full_train))), head(full_test, setup.size(len(full_test)))
    precision = resolve_precision(params.train.precision, setup.device)
    settings = " ".join(f"{k}={v}" for k, v in setup.overrides.items() if k.startswith(("train.", "model.")))
    say(f"accuracy: {params.model.arch}, {setup.recipe.name} ({settings}), {len(train_split)} training images, "
        f"{params.train.epochs} epochs, batch {params.train.batch_size}, {precision}, compile={params.train.compile}")
    reached: dict[float, tuple[float, int]] = {}

    def report(trainer, r) -> None:
        seconds = sum(h.seconds for h in trainer.history)
        for m in MILESTONES:
            if r.val_acc >= m and m not in reached:
                reached[m] = (seconds, r.epoch)
        say(f"  epoch {r.epoch:3d}: train loss {r.train_loss:.3f} acc {r.train_acc:.4f} | test acc {r.val_acc:.4f} | "
            f"{r.images_per_sec:8.0f} img/s | training time {seconds:6.1f} s")

    start = time.perf_counter()
    with trained(params, train_split, test_split, report) as (run, files):
        wall = time.perf_counter() - start
        model, _ = load_model(files.last, setup.device)  # the last epoch's: chosen by nothing
    test = run.trainer.val_data
    logits = predict_logits(model, test, 1000)
    _, accuracy = loss_and_accuracy(logits, test.labels)
    flip_accuracy, translate_accuracy = (
        loss_and_accuracy(tta_log_probs(model, test, 1000, "fp32", mode, logits), test.labels)[1]
        for mode in ("flip", "flip_translate"))
    say(f"accuracy: test accuracy {accuracy:.4f} (TTA flip {flip_accuracy:.4f}, flip_translate "
        f"{translate_accuracy:.4f}) on {len(test)} images after "
        f"{run.trainer.epoch} epochs; training time {run.train_seconds:.1f} s, wall time with per-epoch testing and "
        f"checkpoints {wall:.1f} s")
    for m in MILESTONES:
        when = f"{reached[m][0]:.1f} s of training (epoch {reached[m][1]})" if m in reached else "not reached"
        say(f"  time to {m:.0%}: {when}")


def check_plain_accuracy(setup: Setup, full_train: Split, full_test: Split, workers: int) -> None:
    """The recipe trained the plain way (fp32, PIL transforms in DataLoader workers): separates what the data and
    recipe allow from what the engine does."""
    params = setup.params()
    train_split, test_split = head(full_train, setup.size(len(full_train))), head(full_test, setup.size(len(full_test)))
    say(f"plain accuracy: {params.train.epochs} epochs, batch {params.train.batch_size}, fp32, {workers} workers")
    start = time.perf_counter()
    model = train_plain(params, {"train": train_split, "val": test_split}, workers, setup.device)
    test = DeviceSplit(test_split, setup.device)
    _, accuracy = loss_and_accuracy(predict_logits(model, test, 1000), test.labels)
    say(f"plain accuracy: best-epoch test accuracy {accuracy:.4f} after {time.perf_counter() - start:.1f} s")


def check_speed(setup: Setup, workers: int) -> None:
    params = setup.params()
    precision = resolve_precision(params.train.precision, setup.device)
    batch, warmup, steps = params.train.batch_size, 5, (2 if setup.smoke else 60)
    split = synthetic_split((warmup + steps) * batch)
    say(f"speed: {params.model.arch}, batch {batch}, {steps} timed steps on {setup.device}")
    plain = plain_images_per_sec(split, params.model.arch, batch, warmup, steps, setup.device, workers)
    say(f"  plain  (fp32, NCHW, PIL transforms, {workers} DataLoader workers): {plain:8.0f} images/s")
    ours = project_images_per_sec(split, params.model.arch, batch, steps, setup.device, precision, False)
    say(f"  engine ({precision}, channels_last, uint8 batches on the device): {ours:8.0f} images/s")
    say(f"speed: engine / plain = {ours / plain:.2f}x")


class Interrupted(Exception):
    """Stops a run after an epoch, as a kill would: its resume state stays behind."""


def largest_weight_difference(a: dict, b: dict) -> tuple[float, str]:
    diffs = {k: (a[k].double() - b[k].double()).abs().max().item() for k in a if a[k].is_floating_point()}
    worst = max(diffs, key=diffs.get)
    return diffs[worst], worst


def check_precision_and_resume(setup: Setup, full_train: Split, full_test: Split) -> None:
    failures = []
    train_split, test_split = head(full_train, setup.size(10_000)), head(full_test, setup.size(2_000))
    precisions = ("fp16", "bf16") if setup.device.type == "cuda" else ("fp32",)
    for precision in precisions:
        params = setup.params(precision=precision, epochs=4, warmup_epochs=1)
        with trained(params, train_split, test_split) as (run, _):
            trainer = run.trainer
        first, last = trainer.history[0], trainer.history[-1]
        scale = f", loss scale {trainer.scaler.get_scale():g}" if trainer.scaler.is_enabled() else ""
        # 80 steps at the recipe's rates: far from converged, but a broken path stays at chance (10%) or diverges.
        ok = last.train_loss < 0.8 * first.train_loss and last.val_acc > 0.25
        failures += [] if ok or setup.smoke else [precision]  # a smoke run's few images cannot show learning
        verdict = ("trains" if ok else "not judged (smoke)" if setup.smoke
                   else "FAILED (the loss must fall by a fifth and test accuracy pass 25%)")
        say(f"precision {precision}: {params.train.epochs} epochs on {len(train_split)} images, train loss "
            f"{first.train_loss:.3f} -> {last.train_loss:.3f}, test acc {last.val_acc:.4f}{scale}: "
            f"{verdict}")

    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    params = setup.params(epochs=2, warmup_epochs=0.5)
    small_train, small_test = head(full_train, setup.size(5_000)), head(full_test, setup.size(1_000))

    def last_state(on_epoch=None, folder: Path | None = None) -> tuple[dict, torch.Tensor]:
        with trained(params, small_train, small_test, on_epoch, folder) as (run, files):
            return read_checkpoint(files.last)["model"], run.trainer.generator.get_state()

    def stop_after_first(trainer, r) -> None:
        raise Interrupted

    straight = last_state()
    again = last_state()
    with tempfile.TemporaryDirectory(prefix="gpu-check-resume-") as folder:
        with contextlib.suppress(Interrupted):
            last_state(stop_after_first, Path(folder))  # "killed" after epoch 1: only its resume state goes on
        epochs_trained = []
        resumed = last_state(lambda trainer, r: epochs_trained.append(r.epoch), Path(folder))
    if epochs_trained != [2]:
        failures.append(f"the resumed run trained epochs {epochs_trained}, not [2]: it did not resume")
    for name, (weights, generator) in (("a second straight run", again), ("the run resumed after epoch 1", resumed)):
        difference, where = largest_weight_difference(straight[0], weights)
        same = difference == 0 and torch.equal(straight[1], generator)
        say(f"resume: {name} vs the straight 2-epoch run: " + (
            "bit-identical weights, statistics and data RNG" if same else
            f"largest weight difference {difference:.3g} (in {where})"))
        failures += [] if same else [name]
    torch.use_deterministic_algorithms(False)
    if failures:
        raise RuntimeError(f"failed: {', '.join(failures)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="extracted cifar-10-batches-py folder")
    ap.add_argument("--recipe", type=Path, default=REPO / "recipes/gpu-94.yaml")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override the recipe (YAML)")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    ap.add_argument("--workers", type=int, default=8, help="DataLoader workers for the plain way")
    ap.add_argument("--device", default="cuda", help="cuda, or cpu to rehearse the script")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: rehearse the script, measure nothing")
    ap.add_argument("--pytest-args", default=" ".join(GPU_TESTS), help="what the tests part passes to pytest")
    args = ap.parse_args()
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS; read when CUDA starts
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_check.py: no CUDA GPU here (use --device cpu --smoke to rehearse)")
    setup = Setup(args.recipe, recipe_overrides(str(args.recipe), args.set), torch.device(args.device), args.smoke)
    where = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    say(f"{where}, torch {torch.__version__}, CUDA {torch.version.cuda}, {os.cpu_count()} CPU cores")
    data = functools.cache(lambda: read_cifar10(args.data))  # read when a part first needs it
    parts = {
        "tests": lambda: run_tests(shlex.split(args.pytest_args)),
        "accuracy": lambda: check_accuracy(setup, *data()),
        "speed": lambda: check_speed(setup, args.workers),
        "plain-accuracy": lambda: check_plain_accuracy(setup, *data(), args.workers),
        "precision": lambda: check_precision_and_resume(setup, *data()),
    }
    failed = []
    for name in args.parts.split(","):
        start = time.perf_counter()
        say(f"=== {name}")
        try:
            parts[name]()
        except Exception:
            traceback.print_exc()
            failed.append(name)
        say(f"=== {name}: {'FAILED' if name in failed else 'done'} in {time.perf_counter() - start:.0f} s")
    say(f"parts failed: {', '.join(failed) or 'none'}")
    sys.exit(len(failed))


if __name__ == "__main__":
    main()
