"""What produced a run: device, its model name, precision, process count and the torch / CUDA / cuDNN versions.

Recorded in the training metrics (so `dvc exp show` and the compare tool can tell a CPU fp32 row from a GPU bf16
one) and in every checkpoint. Nothing here varies between two runs on the same machine and software but the index
of the GPU that a run claimed on a machine with several (engine/gpu_claim.py), so that one can tell which GPU ran it.
`ran_on` reads it back as one short label. torch is imported where a run is described, so that the compare tool,
which only reads labels, does not load it.
"""
from __future__ import annotations

import platform
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from .distributed import World

CPUINFO = Path("/proc/cpuinfo")


def cpu_name() -> str:
    """The CPU's model name as the OS reports it, else the machine type (x86_64, arm64)."""
    try:
        for line in CPUINFO.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def device_name(device: torch.device) -> str:
    import torch

    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()


def device_label(device: torch.device, world: World) -> str:
    """'cpu', 'cuda', or 'cuda:1' for one process on GPU 1. Data-parallel processes each have their own GPU, so
    their run is on 'cuda', and `processes` says how many."""
    return str(device) if world.size == 1 else device.type


def run_provenance(device: torch.device, precision: str, world: World) -> dict[str, Any]:
    """The facts about hardware and software that a training result depends on. CUDA and cuDNN are the versions
    the run used, so they are null on a CPU run even where torch was built with them."""
    import torch

    on_cuda = device.type == "cuda"
    return {
        "device": device_label(device, world),
        "device_name": device_name(device),
        "precision": precision,
        "processes": world.size,
        "torch": str(torch.__version__),  # a str subclass that weights-only loading refuses
        "cuda": str(torch.version.cuda) if on_cuda else None,
        "cudnn": torch.backends.cudnn.version() if on_cuda else None,
    }



# Words that name the maker or the kind of part rather than the part itself.
_NOISE = re.compile(r"\((R|TM|tm|r)\)|\bNVIDIA\b|\bIntel\b|\bAMD\b|\bGeForce\b|\bCPU\b|\bProcessor\b"
                    r"|\b\d+-Core\b|@.*$")


def short_device_name(name: str) -> str:
    """A device name cut to what tells parts apart: 'NVIDIA H200' -> 'H200', 'Intel(R) Xeon(R) Platinum 8375C CPU
    @ 2.90GHz' -> 'Xeon Platinum 8375C'."""
    return " ".join(_NOISE.sub(" ", name).split()) or name.strip()


def ran_on(provenance: dict[str, Any]) -> str | None:
    """'H200 bf16 2.14.1', '2x H200 bf16 2.14.1': what trained a run, from its recorded provenance (the keys of
    `run_provenance`), short enough for one screen; None where the device is not recorded."""
    name = provenance.get("device_name")
    if not isinstance(name, str):
        return None
    processes = provenance.get("processes")
    count = f"{int(processes)}x " if isinstance(processes, int | float) and processes > 1 else ""
    version = str(provenance.get("torch")).split("+")[0]  # the local build tag (+cu130, +cpu) says less
    return f"{count}{short_device_name(name)} {provenance.get('precision')} {version}"
