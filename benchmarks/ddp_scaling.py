"""Data-parallel scaling: training images per second with 1 and 2 processes (or the counts given), and the ratio.

Each count runs in fresh processes, launched the way the train stage launches itself (torchrun, gloo on CPU with
the cores split between processes, NCCL on CUDA with one GPU per process), and trains the train stage's Trainer
(`build_trainer`, params.yaml with this model and batch) for two epochs on synthetic CIFAR-sized images at a fixed
global batch; the second epoch is timed (the first warms up kernels and allocators). Validation is excluded from the
time. On CPU the processes share the same cores, so expect little gain on one machine; the ratio is meant for GPUs
(one per process) and for several machines.

    python benchmarks/ddp_scaling.py                                  # ResNet-18, 1 and 2 processes
    python benchmarks/ddp_scaling.py --nproc 1 2 4 --images 4096 --device cuda
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from harness import params_with, synthetic_split
from resnet_cifar.engine.device import resolve_device
from resnet_cifar.engine.distributed import launch, process_group, under_launcher
from resnet_cifar.engine.run import build_trainer


def measure(args: argparse.Namespace) -> None:
    """One process count: every rank trains; rank 0 writes the timed epoch's throughput to args.result."""
    params = params_with({
        "model.arch": args.arch, "model.image_size": 32, "train.epochs": 2, "train.warmup_epochs": 0.5,
        "train.batch_size": args.batch_size, "train.flip": "random", "train.translate": 4,
        "train.precision": args.precision,
        "train.nproc": args.processes, "train.device": args.device})
    with process_group(args.processes, args.device) as (world, device):
        trainer = build_trainer(params, synthetic_split(args.images, 0), synthetic_split(world.size, 1), device, world)
        trainer.train_epoch()
        timed = trainer.train_epoch()
        if world.is_main:
            args.result.write_text(json.dumps({"images_per_sec": timed.images_per_sec,
                                               "precision": trainer.precision, "threads": torch.get_num_threads()}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--images", type=int, default=1024, help="training images per epoch")
    ap.add_argument("--batch-size", type=int, default=128, help="global batch, split between the processes")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--nproc", type=int, nargs="+", default=[1, 2], help="process counts to compare")
    ap.add_argument("--processes", type=int, help=argparse.SUPPRESS)  # set for the measuring runs
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.processes is not None:
        if args.processes > 1 and not under_launcher():
            sys.exit(launch(Path(__file__), args.processes, sys.argv[1:]))
        measure(args)
        return

    device = resolve_device(args.device, claim=False)  # only its type: the measuring processes take the GPUs
    if device.type == "cuda":
        usable = [n for n in args.nproc if n <= torch.cuda.device_count()]
        if usable != args.nproc:
            print(f"{torch.cuda.device_count()} GPU(s): one process per GPU, so only {usable} can be measured")
        args.nproc = usable
    where = (f"{torch.cuda.device_count()} x {torch.cuda.get_device_name()}" if device.type == "cuda"
             else f"CPU, {len(os.sched_getaffinity(0))} cores")
    print(f"{args.arch}, global batch {args.batch_size}, {args.images} images per epoch, on {where}", flush=True)
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.nproc:
            result = Path(tmp) / f"{n}.json"
            command = [sys.executable, __file__, *sys.argv[1:], "--processes", str(n), "--result", str(result)]
            if subprocess.run(command).returncode != 0:
                sys.exit(f"the run with {n} processes failed")
            measured = json.loads(result.read_text())
            rates[n] = measured["images_per_sec"]
            print(f"{n} process(es): {rates[n]:8.1f} images/s  ({measured['precision']}, "
                  f"{measured['threads']} thread(s) each)", flush=True)
    if rates:
        base = min(rates)
        for n in sorted(rates):
            if n != base:
                print(f"scaling ratio {n} vs {base} process(es): {rates[n] / rates[base]:.2f}x")


if __name__ == "__main__":
    main()
