"""From params to a trained model: the one path that the `train` stage, every benchmark and every test take.

`build_trainer` is the one place a `Trainer` is made (seeding, precision, model). `run_training` owns a whole run
around it: the model summary, resuming an interrupted run, the per-epoch DVCLive log, the summary metrics with
the run's provenance, and the best and last checkpoints. Where the files go is a `RunFiles`; the train stage
uses the paths of dvc.yaml, a benchmark a temporary folder.

After each epoch the whole training state is saved to `RunFiles.resume`, so a killed run continues from its
last completed epoch with exactly the result of an uninterrupted one; the file is removed on success.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..atomic import write_json, write_text
from ..config import Params
from ..data.batches import DeviceSplit
from ..data.dataset import Split
from ..model.checkpoint import save_checkpoint
from ..model.resnet import model_from_params
from ..model.summary import model_metrics, summary_table
from ..paths import MODEL_METRICS, MODELS, TRAIN_LIVE
from .device import resolve_device, resolve_precision
from .distributed import World
from .live import METRICS, AtomicLive, write_progress
from .provenance import run_provenance
from .resume import load_resume_state, save_resume_state, training_fingerprint
from .trainer import EpochResult, Trainer, seed_everything


@dataclasses.dataclass(frozen=True)
class RunFiles:
    """Where a training run writes; the defaults are the train stage's outs in dvc.yaml."""

    models: Path = MODELS  # best.pt, last.pt, summary.txt
    live: Path = TRAIN_LIVE  # DVCLive: metrics.json and plots/metrics/*.tsv
    model_metrics: Path = MODEL_METRICS
    resume: Path = Path(".resume/train.pt")

    @property
    def progress(self) -> Path:
        """The training curve within epochs, beside DVCLive's per-epoch files."""
        return self.live / "plots" / "progress.tsv"

    @classmethod
    def under(cls, root: Path) -> RunFiles:
        """The same layout below `root` (a benchmark's temporary folder, a test's tmp_path)."""
        return cls(*(root / getattr(cls, f.name) for f in dataclasses.fields(cls)))


@dataclasses.dataclass
class TrainedRun:
    """A finished run: the trainer (its model holds the best epoch's weights) and what produced it."""

    trainer: Trainer
    provenance: dict[str, Any]

    @property
    def train_seconds(self) -> float:
        return sum(r.seconds for r in self.trainer.history)


def build_trainer(params: Params, train: Split, val: Split, device: torch.device, world: World = World(),
                  build_model: Callable[[int], nn.Module] | None = None) -> Trainer:
    """The Trainer for `params` on these splits: seeds every RNG, then builds the model (params.model's ResNet, or
    `build_model(num_classes)`), at the precision params.train.precision resolves to on `device`."""
    generator = seed_everything(params.seed)
    model = (build_model or (lambda classes: model_from_params(params.model, classes)))(len(train.classes))
    precision = resolve_precision(params.train.precision, device)
    return Trainer(model, DeviceSplit(train, device), DeviceSplit(val, device), params.train, precision, generator,
                   params.evaluate.batch_size, world)


def log_epoch(live: AtomicLive | None, r: EpochResult) -> None:
    if live is None:  # not rank 0
        return
    live.step = r.epoch
    values = {"train/loss": r.train_loss, "train/acc": r.train_acc, "val/loss": r.val_loss,
              "val/acc": r.val_acc, "lr": r.lr}
    for name in METRICS:
        live.log_metric(name, float(f"{values[name]:.6g}"))
    live.next_step()
    print(f"epoch {r.epoch}: train loss {r.train_loss:.4f} acc {r.train_acc:.4f} | "
          f"val loss {r.val_loss:.4f} acc {r.val_acc:.4f} | lr {r.lr:.4g} | {r.images_per_sec:.0f} img/s",
          flush=True)


def describe(params: Params, train: Split, val: Split, provenance: dict[str, Any]) -> str:
    processes = f" in {provenance['processes']} processes" if provenance["processes"] > 1 else ""
    versions = f"torch {provenance['torch']}" + (f", CUDA {provenance['cuda']}" if provenance["cuda"] else "")
    return (f"training {params.model.arch} on {len(train)} images ({len(val)} validation) for "
            f"{params.train.epochs} epochs on {provenance['device']}{processes} with {provenance['precision']} "
            f"({provenance['device_name']}, {versions})")


def run_training(params: Params, train: Split, val: Split, files: RunFiles = RunFiles(), world: World = World(),
                 device: torch.device | None = None,
                 on_epoch: Callable[[Trainer, EpochResult], None] | None = None,
                 build_model: Callable[[int], nn.Module] | None = None) -> TrainedRun:
    """Train params.model on `train`, validating on `val` after every epoch, and write the run's files.

    Every rank of a data-parallel `world` calls it; only rank 0 writes. `on_epoch(trainer, result)` is called on
    every rank after each epoch is saved (a benchmark's report; raising there stops the run as a kill would,
    leaving the resume state). `device` defaults to what params.train.device resolves to.
    """
    device = device or resolve_device(params.train.device)
    fingerprint = training_fingerprint(params, [train, val])
    trainer = build_trainer(params, train, val, device, world, build_model)
    provenance = run_provenance(device, trainer.precision, world)
    if world.is_main:
        write_json(files.model_metrics, model_metrics(trainer.model))
        write_text(files.models / "summary.txt", summary_table(copy.deepcopy(trainer.model)))
    if (state := world.from_main(lambda: load_resume_state(files.resume, fingerprint))) is not None:
        trainer.load_state_dict(state)
        if world.is_main:
            print(f"resuming after epoch {trainer.epoch} from {files.resume}")
    if world.is_main:
        print(describe(params, train, val, provenance), flush=True)

    live = AtomicLive(str(files.live), report=None, dvcyaml=None, save_dvc_exp=False) if world.is_main else None
    with live or contextlib.nullcontext():
        for r in trainer.history:  # epochs done before an interruption: DVC removed their logs
            log_epoch(live, r)
        while trainer.epoch < params.train.epochs:
            r = trainer.train_epoch()
            if world.is_main:
                save_resume_state(files.resume, trainer.state_dict(), fingerprint)
            log_epoch(live, r)
            if on_epoch:
                on_epoch(trainer, r)
        world.check_identical(trainer.model)
        if trainer.evaluated is not trainer.model:
            world.check_identical(trainer.evaluated)
        run = TrainedRun(trainer, provenance)
        if live is not None:
            write_progress(files.progress, (point for epoch in trainer.history for point in epoch.progress))
            # The outcome before the last epoch's numbers: `dvc exp show` orders its columns as the file does. Wall
            # time sits under `time`, apart from everything that two identical runs share.
            live.summary = {
                "best": {"val_acc": trainer.best_val_acc, "epoch": trainer.best_epoch},
                "time": {"train_seconds": round(run.train_seconds, 2),
                         "images_per_sec": round(len(train) * trainer.epoch / run.train_seconds, 1)},
                **live.summary,
                "run": provenance,
            }
            live.step = trainer.epoch

    last = trainer.history[-1]
    if world.is_main:
        save_checkpoint(files.models / "last.pt", trainer.evaluated, params.model.arch, train.classes,
                        epoch=last.epoch, val_acc=last.val_acc, run=provenance)
    trainer.model.load_state_dict(trainer.best_state)
    if world.is_main:
        save_checkpoint(files.models / "best.pt", trainer.model, params.model.arch, train.classes,
                        epoch=trainer.best_epoch, val_acc=trainer.best_val_acc, run=provenance)
        files.resume.unlink(missing_ok=True)
    return run
