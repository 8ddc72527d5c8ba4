"""The optimiser step alone: PyTorch's default SGD against the fused SGD the engine uses, same model, one run.

Both optimisers update their own copy of the same ResNet's parameters with the same gradients and the same
one-cycle schedule (with its momentum cycling), so the script also prints how far apart the two copies end up:
the fused kernel is a faster way to compute the same update, not a different optimiser.

    python benchmarks/optimizer_step.py                 # ResNet-18, 30 timed steps
    python benchmarks/optimizer_step.py --arch resnet50
"""
from __future__ import annotations

import argparse
import copy
import time

import torch
from torch import nn
from torch.optim.lr_scheduler import OneCycleLR

from resnet_cifar.model.resnet import build_model


def sgd_with_schedule(model: nn.Module, steps: int, fused: bool) -> tuple[torch.optim.SGD, OneCycleLR]:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9, weight_decay=5e-4, nesterov=True,
                                fused=fused)
    return optimizer, OneCycleLR(optimizer, max_lr=0.2, total_steps=steps)


def timed_steps(model: nn.Module, gradients: list[list[torch.Tensor]], fused: bool) -> float:
    """Seconds per step over `gradients` (one list of parameter gradients per step)."""
    optimizer, scheduler = sgd_with_schedule(model, len(gradients), fused)
    start = time.perf_counter()
    for step_gradients in gradients:
        for param, grad in zip(model.parameters(), step_gradients):
            param.grad = grad
        optimizer.step()
        scheduler.step()
    return (time.perf_counter() - start) / len(gradients)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    torch.manual_seed(0)
    default_model = build_model(args.arch)
    fused_model = copy.deepcopy(default_model)
    # Gradients drawn up front, so both optimisers see the same ones and the timing holds the step alone.
    gradients = [[torch.randn_like(p) * 1e-2 for p in default_model.parameters()] for _ in range(args.steps)]
    timed_steps(copy.deepcopy(default_model), gradients[:2], False)  # warm both code paths
    timed_steps(copy.deepcopy(fused_model), gradients[:2], True)
    default = timed_steps(default_model, gradients, False)
    fused = timed_steps(fused_model, gradients, True)
    parameters = sum(p.numel() for p in default_model.parameters())
    gap = max((a - b).abs().max().item() for a, b in zip(default_model.parameters(), fused_model.parameters()))
    print(f"{args.arch}, {parameters / 1e6:.1f}M parameters, {args.steps} steps, {torch.get_num_threads()} threads")
    print(f"default SGD: {1e3 * default:6.1f} ms/step")
    print(f"fused SGD:   {1e3 * fused:6.1f} ms/step")
    print(f"speed-up: {default / fused:.1f}x; largest parameter difference after {args.steps} steps: {gap:.1e}")


if __name__ == "__main__":
    main()
