"""Device and numeric precision: where to run and which autocast to use there."""
from __future__ import annotations

import contextlib

import torch

from ..errors import UserError
from .gpu_claim import choose_gpu


def visible_gpus() -> list[str]:
    """The UUIDs of the CUDA GPUs this process sees, in CUDA's order: what the GPU claims are keyed by."""
    if not torch.cuda.is_available():
        return []
    return [str(torch.cuda.get_device_properties(i).uuid) for i in range(torch.cuda.device_count())]


def resolve_device(name: str = "auto", claim: bool = True) -> torch.device:
    """The device that train.device `name` means here. On a machine with several GPUs, 'auto' and 'cuda' claim a
    free one unless told not to `claim` (engine/gpu_claim.py, which the tests drive with GPU ids of their own)."""
    if name == "cpu":
        return torch.device("cpu")
    gpus = visible_gpus()
    if not gpus:
        if name == "auto":
            return torch.device("cpu")
        raise UserError(f"train.device is '{name}' but no CUDA GPU is available; use 'auto' or 'cpu'")
    index = choose_gpu(name, gpus, claim)
    if index is None:
        return torch.device("cuda")
    torch.cuda.set_device(index)  # for whatever uses the current GPU: CUDA's context, cuDNN, a bare synchronize()
    return torch.device("cuda", index)


def cpu_has_fast_bf16() -> bool:
    """True where the CPU has native bf16 arithmetic (AVX-512 BF16 or AMX); elsewhere bf16 is emulated and slow."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def resolve_precision(precision: str, device: torch.device) -> str:
    """`auto` picks the fastest precision that trains safely on `device`."""
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise UserError("train.precision 'fp16' needs a CUDA GPU; on CPU use 'bf16' or 'fp32'")
    return precision


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)
