"""The training engine: channels_last, autocast, device-resident batches, per-step LR schedule, best-model tracking.

`Trainer.train_epoch` takes a step per batch, then ends the epoch (final sums, precise BN, validation, best
model). Loss and accuracy accumulate on the device; the host reads them only every `SYNC_EVERY` steps, or often
enough for `MIN_POINTS` per epoch in a short one (to show progress, add a point to the epoch's `ProgressLog` and
catch a diverging loss early) and at the end of the epoch. With several processes (a `World` larger than one) each rank
trains on its share of every batch through DistributedDataParallel and validates on its shard of the validation set;
the sums behind every reported number are added up over ranks, so all ranks report the same.

With `train.ema_decay` > 0 the trainer also keeps an exponential moving average of the weights, updated after
every step; validation, the best model and the checkpoints are then those averaged weights. With
`train.precise_bn_batches` > 0, the evaluated model's BatchNorm running statistics are recomputed before each
validation ("precise BN"): see `Trainer.recompute_batchnorm_statistics`. With `train.early_image_sizes` the first
epochs train the network at smaller sides ("progressive resizing": cheap epochs while the weights are far from
trained); precise BN, validation and checkpoints always see `model.image_size`, the side evaluated.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from ..config import TrainParams
from ..data.batches import Augmentation, Batch, DeviceSplit, normalize, train_batches
from ..errors import UserError
from .device import autocast
from .distributed import World, data_parallel
from .inference import loss_and_correct_sums, predict_logits
from .schedules import lr_schedule

SYNC_EVERY = 20
MIN_POINTS = 8  # points of the training curve in an epoch of fewer than MIN_POINTS x SYNC_EVERY steps


class TrainingDiverged(UserError):
    """The loss became NaN or infinite."""


# A point of the training curve within an epoch: (epochs done, counted in images seen, e.g. 1.25; mean loss and
# accuracy over the images since the previous point; lr of the last step before it), the columns of
# live.PROGRESS_COLUMNS. A plain tuple, not a named one: resume states hold it, and torch.load(weights_only=True)
# refuses a named tuple's class.
ProgressPoint = tuple[float, float, float, float]


class ProgressLog:
    """The training curve within one epoch: a point at each host read of the summed loss and correct count."""

    def __init__(self, epoch: int, epoch_images: int) -> None:
        self.epoch, self.epoch_images = epoch, epoch_images  # 1-based; images in an epoch, over all ranks
        self.points: tuple[ProgressPoint, ...] = ()
        # The sums and the images seen at the previous point: each point averages over the images since.
        self.loss_total, self.correct, self.seen = 0.0, 0.0, 0

    def add(self, loss_total: float, correct: float, seen: int, lr: float) -> None:
        """A point from the epoch's running sums of loss and correct predictions over `seen` images."""
        images = seen - self.seen
        point = (self.epoch - 1 + seen / self.epoch_images, (loss_total - self.loss_total) / images,
                 (correct - self.correct) / images, lr)
        self.points += (point,)
        self.loss_total, self.correct, self.seen = loss_total, correct, seen

    def close(self, loss_total: float, correct: float, seen: int, lr: float) -> None:
        """The epoch's last point, unless the last host read already came at its end."""
        if seen > self.seen:
            self.add(loss_total, correct, seen, lr)


@dataclass
class EpochTally:
    """What this rank's steps of an epoch add up to so far."""

    epoch: int  # 1-based
    sums: torch.Tensor  # this rank's summed loss and correct count, on the device: the host reads them at points
    seen: int = 0  # images seen, over all ranks
    lr: float = math.nan  # of the last step


@dataclass(frozen=True)
class EpochResult:
    epoch: int  # 1-based
    lr: float  # learning rate of the epoch's last step
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    seconds: float  # training only, validation (and precise BN before it) excluded
    images_per_sec: float
    progress: tuple[ProgressPoint, ...] = ()  # the training curve within the epoch: see ProgressLog


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch's global RNG (weight init) and return the generator that drives shuffling and augmentation.

    The data generator gets a seed derived from `seed` rather than `seed` itself: two Mersenne Twisters seeded alike
    emit the same numbers, so the shuffle and crops would replay the draws that made the initial weights, a
    coupling that costs test accuracy (benchmarks/equal_epochs.py).
    """
    torch.manual_seed(seed)
    data_seed = int(np.random.SeedSequence(seed).generate_state(1, np.uint64)[0])
    return torch.Generator().manual_seed(data_seed)


def parameter_groups(model: nn.Module, tp: TrainParams) -> list[dict[str, Any]]:
    """The optimiser's parameter groups: one, or with train.bn_bias_lr_scale != 1 the BatchNorm biases apart, at
    lr x scale and weight decay / scale, so their decay per step (lr x weight decay) is the other weights'.

    A BatchNorm bias is a per-channel offset that the preceding weights cannot move on their own, and in a short
    run the default learning rate moves it little (hlb-CIFAR10 scales their learning rate by 64).
    The other weights stay the first group: its lr is the one logged.
    """
    biases = {id(m.bias) for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine}
    if tp.bn_bias_lr_scale == 1 or not biases:
        return [{"params": list(model.parameters())}]
    rest = [p for p in model.parameters() if id(p) not in biases]
    bn_biases = [p for p in model.parameters() if id(p) in biases]
    return [{"params": rest},
            {"params": bn_biases, "lr": tp.lr * tp.bn_bias_lr_scale,
             "weight_decay": tp.weight_decay / tp.bn_bias_lr_scale}]


class Trainer:
    """Owns the model, optimiser, schedule and RNG for one training run; `state_dict` captures all of it."""

    def __init__(self, model: nn.Module, train: DeviceSplit, val: DeviceSplit, tp: TrainParams, precision: str,
                 generator: torch.Generator, eval_batch_size: int, world: World = World()) -> None:
        self.world = world
        self.model, train_module = data_parallel(model.to(train.device, memory_format=torch.channels_last),
                                                 train.device, world)
        # Every rank steps identical weights, so every rank's average is the same. Buffers (BatchNorm statistics)
        # follow the trained model's: precise BN, when on, gives the averaged weights their own.
        self.ema = (AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(tp.ema_decay))
                    if tp.ema_decay > 0 else None)
        # torch.compile and DDP wrap the module; checkpoints keep using the plain one so their keys stay unprefixed.
        maybe_compile = torch.compile if tp.compile else (lambda module: module)
        self.eval_forward = maybe_compile(self.evaluated)
        plain_train = train_module is self.model and self.ema is None
        self.train_forward = self.eval_forward if plain_train else maybe_compile(train_module)
        self.train_data, self.val_data = train, val
        self.val_shard = val.shard(world.rank, world.size)
        self.tp, self.precision, self.generator = tp, precision, generator
        self.eval_batch_size = eval_batch_size
        # The fused kernel updates all parameters in one pass rather than looping over tensors, which matters most at
        # small batches and images (benchmarks/optimizer_step.py).
        self.optimizer = torch.optim.SGD(parameter_groups(self.model, tp), lr=tp.lr, momentum=tp.momentum,
                                         weight_decay=tp.weight_decay, nesterov=tp.nesterov, fused=True)
        self.augmentation = Augmentation.drawn(tp.flip, tp.translate, tp.padding, len(train), generator)
        self.steps_per_epoch = -(-len(train) // tp.batch_size)
        self.scheduler = lr_schedule(self.optimizer, tp, self.steps_per_epoch)
        self.scaler = torch.amp.GradScaler(train.device.type, enabled=precision == "fp16")
        self.loss_fn = nn.CrossEntropyLoss(reduction="sum", label_smoothing=tp.label_smoothing)
        self.final_image_size = getattr(self.model, "image_size", None)
        if tp.early_image_sizes and self.final_image_size is None:
            raise UserError(f"train.early_image_sizes needs a model with an image_size; {type(model).__name__} "
                            f"has none")
        self.history: list[EpochResult] = []
        self.best_epoch, self.best_val_acc = 0, -1.0
        self.best_state: dict[str, torch.Tensor] | None = None

    @property
    def evaluated(self) -> nn.Module:
        """The model that is validated and saved: the averaged weights with train.ema_decay, else the trained ones."""
        return self.model if self.ema is None else self.ema.module

    @property
    def epoch(self) -> int:
        """Epochs completed."""
        return len(self.history)

    def image_size(self, epoch: int) -> int | None:
        """The side the network trains at in 1-based `epoch` (None: a model without an image_size)."""
        early = self.tp.early_image_sizes
        return early[epoch - 1] if epoch <= len(early) else self.final_image_size

    @contextlib.contextmanager
    def training_at(self, size: int | None) -> Iterator[None]:
        """The trained module sees side `size` inside (None: leave it); the averaged copy keeps the evaluated one."""
        if size is None:
            yield
            return
        self.model.image_size = size
        try:
            yield
        finally:
            self.model.image_size = self.final_image_size

    @property
    def sync_every(self) -> int:
        """Steps between host reads: `SYNC_EVERY`, or fewer for `MIN_POINTS` points in a short epoch."""
        return max(1, min(SYNC_EVERY, self.steps_per_epoch // MIN_POINTS))

    def train_epoch(self) -> EpochResult:
        """One pass over the training data, then validation; tracks the best model by validation accuracy."""
        epoch = self.epoch + 1
        self.model.train()
        tally = EpochTally(epoch, torch.zeros(2, device=self.train_data.device, dtype=torch.float64))
        curve = ProgressLog(epoch, len(self.train_data))
        size = self.image_size(epoch)
        start = time.perf_counter()
        batches = train_batches(self.train_data, self.tp.batch_size, self.generator, self.world.rank, self.world.size,
                                self.augmentation, epoch)
        with self.training_at(size), self._progress_bar(epoch, size) as bar:
            for step, batch in enumerate(batches, 1):
                self._step(batch, tally)
                bar.update(batch.global_size)
                if step % self.sync_every == 0:
                    loss_total, correct = self._read_sums(tally.sums.clone(), step)
                    curve.add(loss_total, correct, tally.seen, tally.lr)
                    bar.set_postfix(loss=f"{loss_total / tally.seen:.3f}", acc=f"{correct / tally.seen:.3f}")
        return self._end_epoch(tally, curve, self._seconds_since(start))

    def _progress_bar(self, epoch: int, size: int | None) -> tqdm:
        """The bar of an epoch's images, shown by rank 0 alone and only on a terminal."""
        at_size = f" at {size}x{size}" if self.tp.early_image_sizes else ""
        return tqdm(total=len(self.train_data), desc=f"epoch {epoch}/{self.tp.epochs}{at_size}", unit="img",
                    disable=None if self.world.is_main else True, leave=False)

    def _step(self, batch: Batch, tally: EpochTally) -> None:
        """One optimiser step on this rank's share of `batch`; adds its loss and correct count to `tally`."""
        with autocast(self.train_data.device, self.precision):
            logits = self.train_forward(batch.images)
            loss_sum = self.loss_fn(logits.float(), batch.labels)
        # DDP averages gradients over ranks, so scaling by size / global_size makes the update that of the mean loss
        # over the whole batch, however unevenly it splits.
        loss = loss_sum * (self.world.size / batch.global_size)
        tally.lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        tally.sums[0] += loss_sum.detach()
        tally.sums[1] += (logits.detach().argmax(1) == batch.labels).sum()
        tally.seen += batch.global_size

    def _read_sums(self, sums: torch.Tensor, step: int) -> tuple[float, float]:
        """The summed loss and correct count over all ranks, on the host; stops a diverged run."""
        loss_total, correct = self.world.sum(sums).tolist()
        self._check_finite(loss_total, self.epoch + 1, step)
        return loss_total, correct

    def _seconds_since(self, start: float) -> float:
        """Wall time since `start`, once the device has finished the queued work."""
        device = self.train_data.device
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    def _end_epoch(self, tally: EpochTally, curve: ProgressLog, seconds: float) -> EpochResult:
        """The epoch's totals and last point, the evaluated model made ready and validated, the result recorded."""
        loss_total, correct = self._read_sums(tally.sums, self.steps_per_epoch)
        curve.close(loss_total, correct, tally.seen, tally.lr)
        self.recompute_batchnorm_statistics()
        self.world.share_buffers(self.model)
        if self.ema is not None:
            self.world.share_buffers(self.evaluated)
        val_loss, val_acc = self.validate()
        result = EpochResult(tally.epoch, tally.lr, loss_total / tally.seen, correct / tally.seen, val_loss, val_acc,
                             seconds, tally.seen / seconds, curve.points)
        self.history.append(result)
        self._track_best(result)
        return result

    def _track_best(self, result: EpochResult) -> None:
        """Keep the evaluated weights of the epoch with the highest validation accuracy (the first, on a tie)."""
        if result.val_acc > self.best_val_acc:
            self.best_epoch, self.best_val_acc = result.epoch, result.val_acc
            self.best_state = copy.deepcopy(self.evaluated.state_dict())

    @torch.no_grad()
    def recompute_batchnorm_statistics(self) -> None:
        """Precise BN: set every BatchNorm's running mean and variance to their plain average over the first
        `train.precise_bn_batches` training batches (whole batches, in the subset's order, not augmented), as the
        current weights see them.

        The running statistics are an exponential average over past steps, taken while the weights moved: after a
        short run or at a high learning rate they describe earlier weights, and the eval-mode loss can be off by
        orders of magnitude. Training never reads them (train mode normalises with each batch's own statistics), so
        this changes evaluation only. Un-augmented images because evaluation sees those; and no random numbers are
        drawn, so the data stream, hence training and exact resuming, are the same with or without it.
        With several processes each rank averages over its share of every batch, then the ranks' averages are
        averaged (under SyncBatchNorm the shares' statistics are already global), so all ranks hold the same values.
        """
        model = self.evaluated
        layers = [m for m in model.modules()
                  if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
        if self.tp.precise_bn_batches == 0 or not layers:
            return
        saved = [(bn.momentum, bn.num_batches_tracked.clone()) for bn in layers]
        for bn in layers:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average: every batch below weighs the same
        was_training = model.training
        model.train()
        size, data = self.tp.batch_size, self.train_data
        batches = min(self.tp.precise_bn_batches, max(1, len(data) // size))  # a short last batch would be noisy
        for start in range(0, batches * size, size):
            images = data.images[start:start + size][self.world.rank::self.world.size]
            with autocast(data.device, self.precision):
                model(normalize(images))  # the plain module: DDP would overwrite the buffers with rank 0's
        for bn, (momentum, tracked) in zip(layers, saved):
            bn.momentum = momentum
            bn.num_batches_tracked.copy_(tracked)  # it keeps counting training steps, as it did before
            if self.world.size > 1:
                for buffer in (bn.running_mean, bn.running_var):
                    self.world.sum(buffer).div_(self.world.size)
        model.train(was_training)

    def validate(self) -> tuple[float, float]:
        """Mean loss and accuracy over the validation set, each rank predicting its own shard."""
        sums = torch.zeros(2, device=self.val_data.device, dtype=torch.float64)
        if len(self.val_shard):
            logits = predict_logits(self.eval_forward, self.val_shard, self.eval_batch_size, self.precision)
            sums += loss_and_correct_sums(logits, self.val_shard.labels)
        loss_total, correct = self.world.sum(sums).tolist()
        return loss_total / len(self.val_data), correct / len(self.val_data)

    def _check_finite(self, loss_sum: float, epoch: int, step: int) -> None:
        if not math.isfinite(loss_sum):
            raise TrainingDiverged(
                f"training diverged: the loss became {loss_sum} in epoch {epoch} by step {step} "
                f"(learning rate {self.optimizer.param_groups[0]['lr']:.4g}); lower train.lr, add "
                f"train.warmup_epochs, or try train.precision=fp32. Nothing was saved for this epoch.")

    def state_dict(self) -> dict[str, Any]:
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "ema": None if self.ema is None else self.ema.state_dict(),
            "flip_base": self.augmentation.flip_base,
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "history": [dataclasses.asdict(r) for r in self.history],
            "best_epoch": self.best_epoch,
            "best_val_acc": self.best_val_acc,
            "best_model": self.best_state,
        }
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.augmentation.flip_base = state["flip_base"]
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.history = [EpochResult(**{**r, "progress": tuple(map(tuple, r.get("progress", ())))})
                        for r in state["history"]]
        self.best_epoch, self.best_val_acc = state["best_epoch"], state["best_val_acc"]
        self.best_state = state["best_model"]
