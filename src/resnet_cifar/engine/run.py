"""From params to a trained model: the one path that the `train` stage, every benchmark and every test take.

`build_trainer` is the one place a `Trainer` is made (seeding, precision, model). `run_training` owns a whole run
around it: the model summary, resuming an interrupted run, the per-epoch DVCLive log, the summary metrics with
the run's provenance, and the best and last checkpoints. Its `RunWriter` writes the outputs and its
`resume.Resume` keeps the resume state, both from rank 0 alone (`distributed.main_rank_only`). Where the files go
is a `RunFiles`; the train stage uses the paths of dvc.yaml, a benchmark a temporary folder.

After each epoch the whole training state is saved to `RunFiles.resume` (`Resume.save`), so a killed run continues
from its last completed epoch with exactly the result of an uninterrupted one; the file is removed on success
(`Resume.finish`). With train.remote_resume the state also travels through the project's DVC remote
(`remote_resume.RemoteResume`), so that a run lost with its machine continues from any clone.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from .. import paths
from ..atomic import write_json, write_text
from ..config import Params
from ..data.batches import DeviceSplit
from ..data.dataset import Split
from ..model.checkpoint import save_checkpoint
from ..model.resnet import model_from_params
from ..model.summary import model_metrics, summary_table
from .device import resolve_device, resolve_precision
from .distributed import World, main_rank_only
from .epoch_feed import EpochReport, tell_epoch
from .live import METRICS, AtomicLive, write_progress
from .provenance import run_provenance
from .resume import Resume
from .trainer import EpochResult, Trainer, seed_everything


@dataclasses.dataclass(frozen=True)
class RunFiles:
    """Where a training run writes; the defaults are the train stage's outs in dvc.yaml (`resnet_cifar.paths`)."""

    best: Path = paths.BEST_CHECKPOINT
    last: Path = paths.LAST_CHECKPOINT
    summary: Path = paths.MODEL_SUMMARY
    live: Path = paths.TRAIN_LIVE  # DVCLive: metrics.json and plots/metrics/*.tsv
    model_metrics: Path = paths.MODEL_METRICS
    resume: Path = paths.RESUME_STATE

    @property
    def progress(self) -> Path:
        """The training curve within epochs, beside DVCLive's per-epoch files."""
        return self.live / paths.TRAIN_PROGRESS.relative_to(paths.TRAIN_LIVE)

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


class RunWriter:
    """A run's outputs, all of them written by rank 0 (the ranks hold identical results): the model's description,
    the console lines, the DVCLive log, the training curve, the summary metrics and the checkpoints. On every other
    rank of `world` each method does nothing (`main_rank_only`)."""

    def __init__(self, files: RunFiles, arch: str, classes: tuple[str, ...], provenance: dict[str, Any],
                 world: World = World()) -> None:
        self.files, self.arch, self.classes, self.provenance, self.world = files, arch, classes, provenance, world
        self.live: AtomicLive | None = None  # open inside `epoch_log`

    @main_rank_only
    def describe_model(self, model: nn.Module) -> None:
        """Its size and cost (metrics/model.json) and its layer table (summary.txt)."""
        write_json(self.files.model_metrics, model_metrics(model))
        write_text(self.files.summary, summary_table(copy.deepcopy(model)))

    @main_rank_only
    def say(self, line: str, flush: bool = False) -> None:
        """A line on the console."""
        print(line, flush=flush)

    def epoch_log(self) -> contextlib.AbstractContextManager[object]:
        """DVCLive, open inside the `with`: `log_epoch` adds to it, and leaving writes its summary (metrics.json).
        Every other rank gets an empty `with`."""
        return self._open_live() or contextlib.nullcontext()

    @main_rank_only
    def _open_live(self) -> AtomicLive:
        self.live = AtomicLive(str(self.files.live), report=None, dvcyaml=None, save_dvc_exp=False)
        return self.live

    @main_rank_only
    def log_epoch(self, r: EpochResult, epochs: int) -> None:
        """The epoch's metrics to DVCLive, its line, and its validation accuracy to a watcher (`epoch_feed`: the
        search, deciding whether to prune the trial) where one asked."""
        assert self.live is not None, "log_epoch runs inside epoch_log"
        self.live.step = r.epoch
        values = {"train/loss": r.train_loss, "train/acc": r.train_acc, "val/loss": r.val_loss,
                  "val/acc": r.val_acc, "lr": r.lr}
        for name in METRICS:
            self.live.log_metric(name, float(f"{values[name]:.6g}"))
        self.live.next_step()
        print(f"epoch {r.epoch}: train loss {r.train_loss:.4f} acc {r.train_acc:.4f} | "
              f"val loss {r.val_loss:.4f} acc {r.val_acc:.4f} | lr {r.lr:.4g} | {r.images_per_sec:.0f} img/s",
              flush=True)
        tell_epoch(EpochReport(r.epoch, epochs, r.val_acc))

    @main_rank_only
    def write_progress(self, history: list[EpochResult]) -> None:
        """The training curve within the epochs (progress.tsv)."""
        write_progress(self.files.progress, (point for epoch in history for point in epoch.progress))

    @main_rank_only
    def write_summary(self, run: TrainedRun, train_images: int) -> None:
        """The run's outcome, time and provenance in DVCLive's summary, written as `epoch_log` ends."""
        assert self.live is not None, "write_summary runs inside epoch_log"
        trainer = run.trainer
        # The outcome before the last epoch's numbers: `dvc exp show` orders its columns as the file does. Wall
        # time sits under `time`, apart from everything that two identical runs share.
        self.live.summary = {
            "best": {"val_acc": trainer.best_val_acc, "epoch": trainer.best_epoch},
            "time": {"train_seconds": round(run.train_seconds, 2),
                     "images_per_sec": round(train_images * trainer.epoch / run.train_seconds, 1)},
            **self.live.summary,
            "run": run.provenance,
        }
        self.live.step = trainer.epoch

    @main_rank_only
    def save_checkpoint(self, which: Literal["best", "last"], model: nn.Module, epoch: int, val_acc: float) -> None:
        """`model`'s weights as the run's best or last checkpoint, with the epoch and validation accuracy they
        reached."""
        save_checkpoint(getattr(self.files, which), model, self.arch, self.classes, epoch=epoch, val_acc=val_acc,
                        run=self.provenance)


def describe(params: Params, train: Split, val: Split, provenance: dict[str, Any]) -> str:
    processes = f" in {provenance['processes']} processes" if provenance["processes"] > 1 else ""
    versions = f"torch {provenance['torch']}" + (f", CUDA {provenance['cuda']}" if provenance["cuda"] else "")
    return (f"training {params.model.arch} on {len(train)} images ({len(val)} validation) for "
            f"{params.train.epochs} epochs on {provenance['device']}{processes} with {provenance['precision']} "
            f"({provenance['device_name']}, {versions})")


def run_training(params: Params, train: Split, val: Split, files: RunFiles = RunFiles(), world: World = World(),
                 device: torch.device | None = None,
                 on_epoch: Callable[[Trainer, EpochResult], None] | None = None,
                 build_model: Callable[[int], nn.Module] | None = None,
                 project: Path | None = None) -> TrainedRun:
    """Train params.model on `train`, validating on `val` after every epoch, and write the run's files.

    Every rank of a data-parallel `world` calls it; only rank 0 writes. `on_epoch(trainer, result)` is called on
    every rank after each epoch is saved (a benchmark's report; raising there stops the run as a kill would,
    leaving the resume state). `device` defaults to what params.train.device resolves to. With
    params.train.remote_resume, the resume state is also kept on the default remote of the DVC `project` (the
    train stage's repository; a benchmark has none).
    """
    device = device or resolve_device(params.train.device)
    trainer = build_trainer(params, train, val, device, world, build_model)
    provenance = run_provenance(device, trainer.precision, world)
    writer = RunWriter(files, params.model.arch, train.classes, provenance, world)
    resume = Resume.of_run(params, [train, val], trainer, files.resume, project)
    writer.describe_model(trainer.model)
    if (state := resume.load()) is not None:
        trainer.load_state_dict(state)
        writer.say(f"resuming after epoch {trainer.epoch} from {resume.path}")
    writer.say(describe(params, train, val, provenance), flush=True)
    with writer.epoch_log():
        for r in trainer.history:  # epochs done before an interruption: DVC removed their logs
            writer.log_epoch(r, params.train.epochs)
        train_remaining_epochs(trainer, params.train.epochs, writer, resume, on_epoch)
        check_ranks_agree(trainer)
        run = TrainedRun(trainer, provenance)
        writer.write_progress(trainer.history)
        writer.write_summary(run, len(train))
    save_last_and_best(trainer, writer)
    resume.finish()
    return run


def train_remaining_epochs(trainer: Trainer, epochs: int, writer: RunWriter, resume: Resume,
                           on_epoch: Callable[[Trainer, EpochResult], None] | None) -> None:
    """Train up to `epochs`, saving the resume state and logging after each epoch."""
    while trainer.epoch < epochs:
        r = trainer.train_epoch()
        resume.save(trainer.state_dict())
        writer.log_epoch(r, epochs)
        if on_epoch:
            on_epoch(trainer, r)


def check_ranks_agree(trainer: Trainer) -> None:
    """Every rank ends with the same weights (a check that data parallelism kept them in step)."""
    trainer.world.check_identical(trainer.model)
    if trainer.evaluated is not trainer.model:
        trainer.world.check_identical(trainer.evaluated)


def save_last_and_best(trainer: Trainer, writer: RunWriter) -> None:
    """Save the last epoch's evaluated weights, then load the best epoch's into the model and save them."""
    last = trainer.history[-1]
    writer.save_checkpoint("last", trainer.evaluated, last.epoch, last.val_acc)
    trainer.model.load_state_dict(trainer.best_state)
    writer.save_checkpoint("best", trainer.model, trainer.best_epoch, trainer.best_val_acc)
