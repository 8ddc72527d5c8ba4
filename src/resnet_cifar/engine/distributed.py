"""Data-parallel training on several processes: launching them with torchrun, joining their process group, and the
few collectives the trainer and the train stage need.

There is one code path: a single process is a world of size 1, where every collective is a no-op.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.nn.parallel import DistributedDataParallel

from ..errors import UserError
from .device import resolve_device

T = TypeVar("T")
Method = TypeVar("Method", bound=Callable[..., Any])

# What torchrun (or any launcher using its conventions) sets in each worker's environment.
LAUNCHER_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


@dataclass(frozen=True)
class World:
    """This process's place among the training processes: its rank and their number, overall and on this node."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes files and reports progress."""
        return self.rank == 0

    def sum(self, tensor: Tensor) -> Tensor:
        """`tensor` summed element-wise over all ranks (in place)."""
        if self.size > 1:
            dist.all_reduce(tensor)
        return tensor

    def from_main(self, compute: Callable[[], T]) -> T:
        """`compute()` run on rank 0 only, its result sent to every rank (so only rank 0 touches files)."""
        if self.size == 1:
            return compute()
        box = [compute() if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def share_buffers(self, model: nn.Module) -> None:
        """Copy rank 0's buffers (BatchNorm running statistics) to every rank: they differ where BatchNorm is not
        synchronised, as each rank then normalises its own share of the batch."""
        if self.size > 1:
            for buffer in model.buffers():
                dist.broadcast(buffer, src=0)

    def check_identical(self, model: nn.Module) -> None:
        """Raise unless every rank holds bit-identical weights and buffers: a replica that drifted would make the
        saved model depend on which rank saved it."""
        if self.size == 1:
            return
        digest = hashlib.sha256()
        for name, value in model.state_dict().items():
            digest.update(name.encode())
            digest.update(value.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
        digests: list[str | None] = [None] * self.size
        dist.all_gather_object(digests, digest.hexdigest())
        if len(set(digests)) != 1:
            differing = [rank for rank, d in enumerate(digests) if d != digests[0]]
            raise RuntimeError(f"model replicas diverged: ranks {differing} differ from rank 0")


def main_rank_only(method: Method) -> Method:
    """A method of an object with a `world` that acts on rank 0 alone and returns None on every other rank: the
    ranks hold identical results, so one process writes them."""

    @functools.wraps(method)
    def on_main_rank(self: Any, *args: Any, **kwargs: Any) -> Any:
        return method(self, *args, **kwargs) if self.world.is_main else None

    return cast(Method, on_main_rank)


def under_launcher() -> bool:
    """True in a worker process started by torchrun."""
    return all(name in os.environ for name in LAUNCHER_ENV)


def _exit_when_orphaned(launcher_pid: int) -> None:
    """Exit once the launcher is gone. torchrun starts its workers in sessions of their own, so a `kill -9` of the
    stage (or of torchrun) would otherwise leave them training, and later writing outputs, behind DVC's back."""
    while os.getppid() == launcher_pid:
        time.sleep(0.5)
    print(f"error: the torchrun launcher (pid {launcher_pid}) died; stopping this training process",
          file=sys.stderr)
    os._exit(1)


def threads_per_process(local_size: int) -> int:
    """CPU threads for each of `local_size` processes on this node, so that together they use every core once."""
    return max(1, len(os.sched_getaffinity(0)) // local_size)


def launch(script: Path | str, nproc: int, script_args: Sequence[str] = (), module: bool = False) -> int:
    """Run `script` (a file, or with `module` a module name run as `python -m`) as `nproc` torchrun workers on this
    node (standalone rendezvous) and wait for them.

    Returns 0, or the exit status of a rank that failed. torchrun stops the other ranks as soon as one fails, so a
    crash never leaves them waiting in a collective; each failed rank's own message is on stderr above ours.
    """
    from torch.distributed import run as torchrun  # torchrun's entry point, called in-process

    # torchrun would otherwise give each worker one thread, with a warning.
    os.environ.setdefault("OMP_NUM_THREADS", str(threads_per_process(nproc)))
    args = torchrun.parse_args(["--standalone", f"--nproc-per-node={nproc}", *(["--module"] if module else []),
                                 str(script)])
    args.training_script_args = list(script_args)  # set after parsing: torchrun's parser would read their options
    try:
        torchrun.run(args)
    except ChildFailedError as err:
        # A positive status: the rank failed by itself; negative: torchrun stopped it with a signal. Several ranks
        # can fail at once (a peer's death breaks a collective), and torchrun's timestamps are in whole seconds,
        # so all of them are named rather than guessing which came first.
        failed = sorted((rank, f.exitcode) for rank, f in err.failures.items() if f.exitcode > 0)
        if not failed:
            print(f"error: the training processes were killed ({err.failures})", file=sys.stderr)
            return 1
        ranks = ", ".join(f"rank {rank} (exit status {code})" for rank, code in failed)
        print(f"error: training failed in {ranks} of {nproc} processes; torchrun stopped the others",
              file=sys.stderr)
        return failed[0][1]
    return 0


@contextlib.contextmanager
def process_group(nproc: int, device_name: str) -> Iterator[tuple[World, torch.device]]:
    """This process's world and training device.

    In a torchrun worker, join the process group (NCCL on CUDA, one GPU per process; gloo on CPU, where the node's
    cores are split between its processes). Outside torchrun, the world is this one process, which on a machine
    with several GPUs claims a free one; a worker never claims, as each takes its local rank's GPU.
    """
    device = resolve_device(device_name, claim=not under_launcher())
    if not under_launcher():
        yield World(), device
        return
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True).start()
    env = {name: int(os.environ[name]) for name in LAUNCHER_ENV}
    world = World(rank=env["RANK"], size=env["WORLD_SIZE"], local_rank=env["LOCAL_RANK"],
                  local_size=env["LOCAL_WORLD_SIZE"])
    if world.local_size != nproc:
        raise UserError(f"train.nproc is {nproc} but torchrun started {world.local_size} processes on this node; "
                        f"set train.nproc to torchrun's --nproc-per-node so params.yaml records the run")
    if world.size == 1:
        yield world, device
        return
    if device.type == "cuda":
        if world.local_size > torch.cuda.device_count():
            raise UserError(f"train.nproc is {nproc} but this node has {torch.cuda.device_count()} CUDA GPUs; "
                            f"each process needs its own")
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    else:
        torch.set_num_threads(threads_per_process(world.local_size))
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    yield world, device
    dist.destroy_process_group()  # on success only: after a failure the process exits and torchrun cleans up


def data_parallel(model: nn.Module, device: torch.device, world: World) -> tuple[nn.Module, nn.Module]:
    """(the model, the module to train through). In a world of one both are `model`.

    Otherwise the second is a DistributedDataParallel wrapper that averages gradients over ranks. On CUDA the
    model's BatchNorm layers become SyncBatchNorm (same state dict), so statistics come from the whole global batch.
    DDP refuses SyncBatchNorm on CPU modules, so there each rank normalises with its own share's statistics and
    DDP copies rank 0's running statistics to the others before every forward pass.
    """
    if world.size == 1:
        return model, model
    if device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return model, DistributedDataParallel(model, device_ids=[device.index])
    return model, DistributedDataParallel(model)
