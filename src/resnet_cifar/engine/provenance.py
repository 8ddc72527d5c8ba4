"""What produced a run: device, its model name, precision, process count and the torch / CUDA / cuDNN versions.

Recorded in the training metrics (so `dvc exp show` and the compare tool can tell a CPU fp32 row from a GPU bf16
one) and in every checkpoint. Nothing here varies between two runs on the same machine and software but the index
of the GPU that a run claimed on a machine with several (engine/gpu_claim.py), so that one can tell which GPU ran it.
"""
from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

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
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()


def device_label(device: torch.device, world: World) -> str:
    """'cpu', 'cuda', or 'cuda:1' for one process on GPU 1. Data-parallel processes each have their own GPU, so
    their run is on 'cuda', and `processes` says how many."""
    return str(device) if world.size == 1 else device.type


def run_provenance(device: torch.device, precision: str, world: World) -> dict[str, Any]:
    """The facts about hardware and software that a training result depends on. CUDA and cuDNN are the versions
    the run used, so they are null on a CPU run even where torch was built with them."""
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

