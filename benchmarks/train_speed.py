"""Training throughput: the plain PyTorch way against this project's engine, same model, data and steps, one run.

plain   : fp32, NCHW, torchvision PIL transforms (random crop + flip, ToTensor, Normalize) in DataLoader workers,
          loss read every step - the way most example repositories train.
project : the train stage's Trainer (resnet_cifar.engine.run.build_trainer) - uint8 data on the device, batched
          crop/flip, channels_last, autocast at the precision `auto` picks, no per-step host sync.

Both include data loading and augmentation. It prints images/s for each, their ratio, and the achieved FLOP/s
(FLOPs of one training step counted by torch's FlopCounterMode) as a fraction of a matmul peak measured here.

    python benchmarks/train_speed.py                     # ResNet-18, batch 128, 12 timed steps
    python benchmarks/train_speed.py --arch resnet50 --steps 6
"""
from __future__ import annotations

import argparse
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from harness import plain_images_per_sec, project_images_per_sec, sync, synthetic_split
from resnet_cifar.engine.device import resolve_device, resolve_precision
from resnet_cifar.model.resnet import build_model


def train_step_flops(arch: str, batch: int) -> float:
    model = build_model(arch)
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    with FlopCounterMode(display=False) as counter:
        nn.functional.cross_entropy(model(x), y).backward()
    return counter.get_total_flops()


def matmul_peak(device: torch.device, dtype: torch.dtype, size: int = 2048, repeats: int = 10) -> float:
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync(device)
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=12, help="timed steps per engine")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps of the plain way (the engine warms up "
                    "on a whole untimed epoch of the timed batches)")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers for the plain way")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--compile", action="store_true", help="also time the project's engine with torch.compile")
    args = ap.parse_args()
    device = resolve_device("auto")
    precision = resolve_precision(args.precision, device)
    split = synthetic_split((args.warmup + args.steps) * args.batch)

    print(f"{args.arch}, batch {args.batch}, {args.steps} timed steps on {device} "
          f"({torch.get_num_threads()} threads)", flush=True)
    plain = plain_images_per_sec(split, args.arch, args.batch, args.warmup, args.steps, device, args.workers)
    print(f"plain   (fp32, NCHW, PIL transforms, {args.workers} workers): {plain:7.1f} images/s", flush=True)
    ours = project_images_per_sec(split, args.arch, args.batch, args.steps, device, precision, False)
    print(f"project ({precision}, channels_last, device batches):     {ours:7.1f} images/s", flush=True)
    print(f"speed-up: {ours / plain:.2f}x", flush=True)
    if args.compile:
        compiled = project_images_per_sec(split, args.arch, args.batch, args.steps, device, precision, True)
        print(f"project + torch.compile:                              {compiled:7.1f} images/s "
              f"({compiled / plain:.2f}x plain, {compiled / ours:.2f}x eager)", flush=True)

    flops_per_image = train_step_flops(args.arch, args.batch) / args.batch
    peak_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    peak = matmul_peak(device, peak_dtype)
    peak_fp32 = matmul_peak(device, torch.float32)
    print(f"training FLOPs per image (counted): {flops_per_image / 1e9:.2f} GFLOP")
    print(f"matmul peak 2048^2: {peak / 1e9:.0f} GFLOP/s ({precision}), {peak_fp32 / 1e9:.0f} GFLOP/s (fp32)")
    for name, rate, ref in (("plain", plain, peak_fp32), ("project", ours, peak)):
        achieved = rate * flops_per_image
        print(f"{name:8s} achieves {achieved / 1e9:6.0f} GFLOP/s = {achieved / ref:.0%} of the "
              f"{'fp32' if ref is peak_fp32 else precision} matmul peak")


if __name__ == "__main__":
    main()
