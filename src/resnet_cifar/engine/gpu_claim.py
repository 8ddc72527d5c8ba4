"""One GPU per training process on a machine with several, so that `dvc queue start -j N` on N GPUs trains N
experiments on N GPUs rather than all of them on GPU 0.

A process claims a GPU with an exclusive `flock` on that GPU's lock file, on a descriptor it keeps open until it
exits: the kernel releases the lock however the process ends (a crash or `kill -9` included), so a dead run never
leaves a GPU marked busy. Lock files are only ever locked, never written or removed.

The files live in /tmp, which every user's processes on the machine share, as they share the GPUs. Each is named
by its GPU's UUID, so processes that see one physical GPU under different indices (other CUDA_VISIBLE_DEVICES)
contend for the same file. A file is created readable by all (flock needs only a read-only descriptor), and the
sticky bit of /tmp keeps other users from deleting it. Only this project's processes take these locks: other
programs' GPU jobs go unseen, and so do processes in containers with a /tmp of their own.

A process that sees a single GPU (one GPU in the machine, or CUDA_VISIBLE_DEVICES naming one) runs there as it
always did, never waiting; it only takes the GPU's lock when free, so that processes that do choose keep off it.

Nothing here imports torch: the caller passes the visible GPUs' ids (engine/device.py), a test its own.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ..errors import UserError

try:
    import fcntl
except ImportError:  # Windows: no flock, so no claims (every process takes the GPU it names, as before)
    fcntl = None

LOCK_DIR = Path("/tmp")
POLL_SECONDS = 2.0
PINNED_PREFIX = "cuda:"
# Descriptors of the locks this process holds, by lock file: open until the process exits, which releases them.
_held: dict[Path, int] = {}


def lock_file(lock_dir: Path, gpu_id: str) -> Path:
    return lock_dir / f"resnet-cifar-gpu-{re.sub(r'[^A-Za-z0-9.-]', '_', gpu_id)}.lock"


def _open_lock_file(path: Path) -> int:
    """A read-only descriptor on `path`, which is created readable by all if missing. An existing file is opened
    without O_CREAT: where fs.protected_regular is set, Linux refuses O_CREAT on another user's file in a sticky
    directory even when the file exists."""
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW
    while True:
        try:
            return os.open(path, flags)
        except FileNotFoundError:
            pass
        try:
            descriptor = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:  # another process created it in between
            continue
        os.fchmod(descriptor, 0o644)  # whatever this user's umask: other users must be able to open it
        return descriptor


def try_claim(path: Path) -> bool:
    """Claim the GPU of lock file `path` for the rest of this process if no other process holds it."""
    if path in _held:
        return True
    descriptor = _open_lock_file(path)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return False
    _held[path] = descriptor
    return True


def wait_for_free_gpu(paths: Sequence[Path], poll_seconds: float) -> int:
    """The index of the first of `paths` this process claims, trying them all every `poll_seconds` until one is
    free. A process that already holds one of them keeps it (a second run in one process, say)."""
    for index, path in enumerate(paths):
        if path in _held:
            return index
    said = False
    while True:
        for index, path in enumerate(paths):
            if try_claim(path):
                return index
        if not said:
            print(f"all {len(paths)} GPUs are claimed by other training processes; waiting for one to be free "
                  f"(train.device: cuda:N shares GPU N instead)", file=sys.stderr, flush=True)
            said = True
        time.sleep(poll_seconds)


def choose_gpu(spec: str, gpus: Sequence[str], claim: bool = True, lock_dir: Path = LOCK_DIR,
               poll_seconds: float = POLL_SECONDS) -> int | None:
    """Which of the visible GPUs (`gpus`: their ids, in CUDA's order) `spec` ('auto', 'cuda' or 'cuda:N') runs on:
    its index, or None for CUDA's default GPU, which is what 'auto' and 'cuda' get on a single GPU or where told not
    to `claim` (a DDP rank, which takes its local rank's GPU).

    Where there is a choice, 'auto' or 'cuda' on several GPUs, a process claims a free GPU, waiting while every one
    is claimed. Where there is none, 'cuda:N' or a single visible GPU, it runs there whether or not another process
    claimed it, and claims it if free so that processes that choose keep off it.
    """
    pinned = int(spec.removeprefix(PINNED_PREFIX)) if spec.startswith(PINNED_PREFIX) else None
    if pinned is not None and pinned >= len(gpus):
        raise UserError(f"train.device is '{spec}' but this machine has {len(gpus)} CUDA GPU(s) "
                        f"(cuda:0 to cuda:{len(gpus) - 1})")
    if not claim or fcntl is None:
        return pinned
    paths = [lock_file(lock_dir, gpu) for gpu in gpus]
    if pinned is not None or len(paths) == 1:
        with contextlib.suppress(OSError):  # the claim only keeps others off this GPU: without it, this still runs
            try_claim(paths[pinned or 0])
        return pinned
    try:
        return wait_for_free_gpu(paths, poll_seconds)
    except OSError as err:
        raise UserError(f"cannot claim a GPU through the lock files in {lock_dir} ({err}); "
                        f"set train.device to cuda:N to choose one") from err
