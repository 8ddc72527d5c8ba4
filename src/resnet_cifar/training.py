"""The training loop: SGD with a step schedule over device-resident batches, best model by validation accuracy."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from tqdm import tqdm

from .batches import DeviceSplit, train_batches
from .config import TrainParams
from .device import autocast
from .evaluation import loss_and_accuracy, predict_logits


@dataclass(frozen=True)
class EpochResult:
    epoch: int  # 1-based
    lr: float
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    seconds: float
    images_per_sec: float


def build_optimizer(model: nn.Module, tp: TrainParams) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=tp.lr, momentum=tp.momentum,
                           weight_decay=tp.weight_decay, nesterov=tp.nesterov)


def build_scheduler(optimizer: torch.optim.Optimizer, tp: TrainParams) -> torch.optim.lr_scheduler.LRScheduler:
    """Stepped once per epoch."""
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=tp.milestones, gamma=tp.gamma)


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch's global RNG (weights) and return the generator that drives shuffling and augmentation."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def train_one_epoch(model: nn.Module, data: DeviceSplit, optimizer: torch.optim.Optimizer, tp: TrainParams,
                    precision: str, generator: torch.Generator, desc: str) -> tuple[float, float]:
    """One pass over `data`; returns mean training loss and accuracy (read from the device once, at the end)."""
    model.train()
    scaler = torch.amp.GradScaler(data.device.type, enabled=precision == "fp16")
    loss_sum = torch.zeros((), device=data.device)
    correct = torch.zeros((), device=data.device, dtype=torch.long)
    with tqdm(total=len(data), desc=desc, unit="img", disable=None, leave=False) as bar:
        for images, labels in train_batches(data, tp.batch_size, generator):
            with autocast(data.device, precision):
                logits = model(images)
                loss = nn.functional.cross_entropy(logits.float(), labels)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            loss_sum += loss.detach() * len(labels)
            correct += (logits.detach().argmax(1) == labels).sum()
            bar.update(len(labels))
    return loss_sum.item() / len(data), correct.item() / len(data)


def fit(model: nn.Module, train: DeviceSplit, val: DeviceSplit, tp: TrainParams, precision: str,
        generator: torch.Generator, eval_batch_size: int,
        on_epoch: Callable[[EpochResult], None]) -> list[EpochResult]:
    """Train for `tp.epochs`, calling `on_epoch` after each epoch's validation."""
    optimizer = build_optimizer(model, tp)
    scheduler = build_scheduler(optimizer, tp)
    history = []
    for epoch in range(1, tp.epochs + 1):
        lr = optimizer.param_groups[0]["lr"]
        start = time.perf_counter()
        train_loss, train_acc = train_one_epoch(model, train, optimizer, tp, precision, generator,
                                                desc=f"epoch {epoch}/{tp.epochs}")
        seconds = time.perf_counter() - start
        scheduler.step()
        val_loss, val_acc = loss_and_accuracy(predict_logits(model, val, eval_batch_size, precision), val.labels)
        result = EpochResult(epoch, lr, train_loss, train_acc, val_loss, val_acc, seconds, len(train) / seconds)
        history.append(result)
        on_epoch(result)
    return history
