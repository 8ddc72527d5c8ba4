"""Learning-rate schedules, all stepped once per optimisation step (so warmup can last a fraction of an epoch)."""
from __future__ import annotations

import bisect
import math

import torch

from ..config import TrainParams
from ..errors import UserError


def lr_schedule(optimizer: torch.optim.Optimizer, tp: TrainParams,
                steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler:
    """`multistep`: the seed recipe, lr x gamma at each milestone epoch. `cosine`: cosine decay to zero.
    `linear`: linear decay to zero (the speed-run trainers' short warmup, then a long straight descent).
    These three start with a linear warmup over `warmup_epochs` when it is set. `onecycle`: PyTorch's OneCycleLR
    rising to `lr` over `warmup_epochs`, then annealing (with momentum cycling). Each parameter group's schedule
    is relative to its own learning rate."""
    total = tp.epochs * steps_per_epoch
    warmup = round(tp.warmup_epochs * steps_per_epoch)
    if tp.scheduler == "onecycle":
        # OneCycleLR interpolates over [0, rise - 1] and [rise - 1, total - 1]: each needs at least one step.
        if total < 3:
            raise UserError(f"train.scheduler 'onecycle' needs at least 3 optimisation steps, but "
                            f"{tp.epochs} epochs of {steps_per_epoch} batches make {total}; use more epochs or "
                            f"images, a smaller train.batch_size, or another scheduler")
        rise = min(max(warmup, 2), total - 1)
        peaks = [group["lr"] for group in optimizer.param_groups]
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=peaks, total_steps=total,
                                                   pct_start=rise / total)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if tp.scheduler == "multistep":
            return tp.gamma ** bisect.bisect_right(tp.milestones, step // steps_per_epoch)
        progress = (step - warmup) / max(total - warmup, 1)
        if tp.scheduler == "linear":
            return 1 - progress
        return 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
