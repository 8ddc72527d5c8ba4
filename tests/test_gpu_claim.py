"""One GPU per training process (engine/gpu_claim.py), on any machine: each claimant is a real process that claims
among GPU ids the test makes up, in a lock folder of its own. The processes report on pipes, which is all the
synchronisation there is: a test waits for a line, never for a time."""
from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import resnet_cifar
from committed import committed_params_with
from resnet_cifar.config import load_params
from resnet_cifar.engine import distributed
from resnet_cifar.engine.device import resolve_device
from resnet_cifar.engine.distributed import World, process_group
from resnet_cifar.engine.gpu_claim import choose_gpu
from resnet_cifar.engine.provenance import device_label
from resnet_cifar.errors import UserError

TWO_GPUS = ("GPU-aaaa", "GPU-bbbb")
WAITING = "all 2 GPUs are claimed by other training processes"
SRC = str(Path(resnet_cifar.__file__).resolve().parents[1])
# Claims a GPU, prints its index, then keeps it until its stdin is closed (or it is killed).
CLAIMANT = """
import sys
from pathlib import Path
from resnet_cifar.engine.gpu_claim import choose_gpu
spec, gpus, claim, lock_dir = sys.argv[1:]
print(choose_gpu(spec, gpus.split(","), claim == "claim", Path(lock_dir), poll_seconds=0.01), flush=True)
sys.stdin.read()
"""


def read_line(stream, seconds: float = 30) -> str:
    """The next line of a child's pipe, read byte by byte so that nothing waits in a Python buffer."""
    line = b""
    deadline = time.monotonic() + seconds
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([stream], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"no line from the claimant within {seconds} s (so far: {line!r})")
        byte = os.read(stream.fileno(), 1)
        if not byte:
            raise AssertionError(f"the claimant closed its pipe (so far: {line!r})")
        line += byte
    return line.decode().strip()


def has_output(stream) -> bool:
    return bool(select.select([stream], [], [], 0)[0])


class Claimant:
    def __init__(self, lock_dir: Path, spec: str = "auto", gpus: tuple[str, ...] = TWO_GPUS, claim: bool = True):
        self.process = subprocess.Popen(
            [sys.executable, "-c", CLAIMANT, spec, ",".join(gpus), "claim" if claim else "no", str(lock_dir)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": SRC})

    def gpu(self) -> str:
        """The index it claimed (or 'None'), once it has."""
        return read_line(self.process.stdout)

    def exit(self) -> None:
        self.process.stdin.close()
        assert self.process.wait(timeout=30) == 0, self.process.stderr.read().decode()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)


@pytest.fixture
def claimants(tmp_path):
    started = []

    def start(*args, **kwargs) -> Claimant:
        started.append(Claimant(tmp_path, *args, **kwargs))
        return started[-1]
    yield start
    for claimant in started:
        if claimant.process.poll() is None:
            claimant.kill()
        for stream in (claimant.process.stdin, claimant.process.stdout, claimant.process.stderr):
            stream.close()


def test_two_processes_claim_two_gpus_and_a_third_waits_until_one_exits(claimants):
    first, second = claimants(), claimants()
    held = {first: first.gpu(), second: second.gpu()}
    assert set(held.values()) == {"0", "1"}
    third = claimants()
    assert WAITING in read_line(third.process.stderr)  # said once, then it polls
    assert not has_output(third.process.stdout)  # no GPU while both are held
    first.exit()
    assert third.gpu() == held[first]
    third.exit()
    assert third.process.stderr.read().decode().count("\n") == 0  # one line, read above: said once, not per poll


def test_a_killed_holder_frees_its_gpu(claimants):
    first, second = claimants(), claimants()
    held = {first: first.gpu(), second: second.gpu()}
    third = claimants()
    assert WAITING in read_line(third.process.stderr)
    second.kill()  # SIGKILL: no handler runs, only the kernel's release of the lock
    assert third.gpu() == held[second]
    fourth = claimants()
    assert WAITING in read_line(fourth.process.stderr)  # the killed holder's GPU went to the third, not to both


def test_a_single_gpu_is_shared_as_before_and_kept_off_by_processes_that_choose(claimants):
    first, second = claimants(gpus=("GPU-bbbb",)), claimants(gpus=("GPU-bbbb",))
    assert first.gpu() == second.gpu() == "None"  # CUDA's default GPU: neither waits
    # GPU b is visible alone to those two (CUDA_VISIBLE_DEVICES=1, say) and as index 1 to the next processes.
    assert claimants().gpu() == "0"
    assert WAITING in read_line(claimants().process.stderr)


def test_processes_that_do_not_claim_never_wait_nor_lock(claimants):
    """As a DDP rank: it takes its local rank's GPU, whatever other runs hold."""
    first, second = claimants(), claimants()
    assert {first.gpu(), second.gpu()} == {"0", "1"}
    assert claimants(claim=False).gpu() == "None"
    assert claimants("cuda:1", claim=False).gpu() == "1"


def test_torchrun_workers_do_not_claim_and_a_single_process_does(monkeypatch):
    asked = []
    monkeypatch.setattr(distributed, "resolve_device", lambda name, claim: asked.append(claim) or torch.device("cpu"))
    with process_group(1, "auto"):
        pass
    for name, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1"}.items():
        monkeypatch.setenv(name, value)  # a torchrun worker (of one, which joins no process group)
    with process_group(1, "auto"):
        pass
    assert asked == [True, False]


def test_a_pinned_gpu_runs_even_when_claimed_and_claims_it_when_free(claimants):
    pinned = claimants("cuda:1")
    assert pinned.gpu() == "1"
    assert claimants().gpu() == "0"  # auto keeps off the pinned GPU
    assert claimants("cuda:1").gpu() == "1"  # a second pin shares it rather than wait
    assert WAITING in read_line(claimants().process.stderr)


def test_a_pinned_index_past_the_gpus_is_one_line(tmp_path):
    with pytest.raises(UserError, match=r"^train.device is 'cuda:2' but this machine has 2 CUDA GPU\(s\) "
                                        r"\(cuda:0 to cuda:1\)$"):
        choose_gpu("cuda:2", TWO_GPUS, lock_dir=tmp_path)


def test_a_second_claim_in_one_process_keeps_its_gpu(claimants, tmp_path):
    """run_training twice in one process (a benchmark, a test) keeps the GPU it holds, though another is free."""
    other = claimants()
    assert other.gpu() == "0"
    assert choose_gpu("auto", TWO_GPUS, lock_dir=tmp_path) == 1
    other.exit()
    assert choose_gpu("cuda", TWO_GPUS, lock_dir=tmp_path) == 1


def test_lock_files_are_readable_by_every_user_whatever_the_umask(tmp_path):
    """flock needs only a read-only descriptor: other users' runs must be able to open the file to claim."""
    umask = os.umask(0o077)
    try:
        choose_gpu("auto", TWO_GPUS, lock_dir=tmp_path)
    finally:
        os.umask(umask)
    assert [f.stat().st_mode & 0o777 for f in tmp_path.iterdir()] == [0o644]


def test_without_usable_lock_files_auto_stops_with_one_line_and_a_pin_still_runs(tmp_path):
    missing = tmp_path / "missing"
    with pytest.raises(UserError, match=r"^cannot claim a GPU through the lock files in .*missing .*cuda:N"):
        choose_gpu("auto", TWO_GPUS, lock_dir=missing)
    assert choose_gpu("cuda:1", TWO_GPUS, lock_dir=missing) == 1
    assert choose_gpu("auto", ("GPU-only",), lock_dir=missing) is None


@pytest.mark.skipif(torch.cuda.is_available(), reason="a machine without a CUDA GPU")
def test_without_a_gpu_auto_is_the_cpu_and_a_gpu_is_refused():
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(UserError, match="train.device is 'cuda:0' but no CUDA GPU is available"):
        resolve_device("cuda:0")


def test_a_run_records_the_gpu_index_it_ran_on_and_ddp_just_cuda():
    assert device_label(torch.device("cuda", 1), World()) == "cuda:1"
    assert device_label(torch.device("cuda"), World()) == "cuda"
    assert device_label(torch.device("cuda", 0), World(rank=0, size=2, local_rank=0, local_size=2)) == "cuda"
    assert device_label(torch.device("cpu"), World()) == "cpu"


@pytest.mark.parametrize(("text", "message"), [
    ("train: {device: 'cuda:x'}", "train.device 'cuda:x' is not one of: auto, cpu, cuda, cuda:N (GPU N)"),
    ("train: {device: gpu}", "train.device 'gpu' is not one of"),
    ("train: {device: 'cuda:1', nproc: 2}", "train.device 'cuda:1' pins one GPU, but train.nproc 2 processes"),
])
def test_device_forms_are_validated(tmp_path, text, message):
    path = tmp_path / "params.yaml"
    path.write_text(committed_params_with(text))
    with pytest.raises(UserError, match=re.escape(message)):
        load_params(path)


def test_a_pinned_gpu_is_a_valid_device(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(committed_params_with("train: {device: 'cuda:3'}"))
    assert load_params(path).train.device == "cuda:3"
