"""A data-parallel training run for tests/test_distributed.py, launched like the train stage launches itself.

`python tests/ddp_worker.py OUT --nproc N` runs the real Trainer in N torchrun processes on a BatchNorm-free network
(so that one process and N processes compute the same updates up to float rounding) and has every rank save its
final weights (trained and evaluated) and history to OUT/rank<r>.pt. `--fail-rank R` makes rank R crash at the start
of the second epoch, while the others go on into it. `--idle` makes every rank write its pid to OUT/pid<r> and wait
instead of training. `--precise-bn` gives the network a BatchNorm and has every rank only recompute its statistics
(precise BN, before any training) and save them.
"""
import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import torch
from torch import nn

from committed import train_params
from resnet_cifar.engine.distributed import World, launch, process_group, under_launcher
from resnet_cifar.engine.run import build_trainer
from resnet_cifar.engine.trainer import Trainer
from tiny import tiny_params, tiny_split

# 37 images in batches of 16: the last batch (5 images) splits unevenly over two ranks.
# Every technique of the engine on, so that each is checked to be the same over ranks as in one process.
TP = train_params(epochs=2, batch_size=16, lr=0.05, scheduler="cosine", warmup_epochs=0, flip="alternate", translate=2,
                  padding="reflect", ema_decay=0.9, bn_bias_lr_scale=4.0, nproc=1, precise_bn_batches=2)


def small_network(num_classes: int, batchnorm: bool) -> nn.Module:
    norm = [nn.BatchNorm2d(8)] if batchnorm else []
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), *norm, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, num_classes))


def make_trainer(world: World, nproc: int, batchnorm: bool = False) -> Trainer:
    params = tiny_params(dataclasses.replace(TP, nproc=nproc), eval_batch_size=8)
    return build_trainer(params, tiny_split(37, 1), tiny_split(21, 2), torch.device("cpu"), world,
                         build_model=lambda classes: small_network(classes, batchnorm))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--nproc", type=int, required=True)
    parser.add_argument("--fail-rank", type=int)
    parser.add_argument("--idle", action="store_true")
    parser.add_argument("--precise-bn", action="store_true")
    args = parser.parse_args()
    if not under_launcher():
        sys.exit(launch(Path(__file__), args.nproc, sys.argv[1:]))
    with process_group(args.nproc, "cpu") as (world, _):
        if args.idle:
            (args.out / f"pid{world.rank}").write_text(str(os.getpid()))
            time.sleep(300)
        if args.precise_bn:
            trainer = make_trainer(world, args.nproc, batchnorm=True)
            trainer.recompute_batchnorm_statistics()
            torch.save(dict(trainer.evaluated.named_buffers()), args.out / f"rank{world.rank}.pt")
            return
        trainer = make_trainer(world, args.nproc)
        while trainer.epoch < TP.epochs:
            if trainer.epoch == 1 and world.rank == args.fail_rank:
                raise RuntimeError(f"injected failure on rank {world.rank}")
            trainer.train_epoch()
        torch.save({"weights": trainer.model.state_dict(), "evaluated": trainer.evaluated.state_dict(),
                    "history": [dataclasses.asdict(r) for r in trainer.history]}, args.out / f"rank{world.rank}.pt")


if __name__ == "__main__":
    main()
