"""Convolutions whose output map is tiny, computed on the CPU as one matrix product (im2col, then GEMM).

At `model.image_size` 8 to 16 the last stage of a ResNet runs on 2x2 or 1x1 maps. There oneDNN's convolution,
backward pass above all, reaches a small fraction of what the same arithmetic gets as a single GEMM: unfolding every
k x k patch of the batch into a column (`F.unfold`) and multiplying by the flattened weights does the work in one
large matrix product, whose gradient is two more. `benchmarks/small_maps.py` measures both ways in one run. The
weights, their layout and the state-dict keys stay those of `nn.Conv2d`; only how the output is computed changes,
and only where it was measured to pay: fp32 on an AVX2 CPU. On AVX-512 CPUs oneDNN's own kernels were as fast or
faster, so the path is off there by default; under autocast, and on a GPU, it is `nn.Conv2d` as usual.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Output maps of at most this many pixels take the GEMM (a 2x2 or 1x1 map); at 3x3 and larger oneDNN is faster.
MAX_GEMM_PIXELS = 4


def pays_on(capability: str) -> bool:
    """Whether the path is on by default on a CPU of this `torch.backends.cpu.get_cpu_capability()`: where it was
    measured to pay (AVX2), not elsewhere (AVX-512, and CPUs where nobody measured it)."""
    return capability == "AVX2"


_enabled = pays_on(torch.backends.cpu.get_cpu_capability())


@contextlib.contextmanager
def small_map_gemm(enabled: bool) -> Iterator[None]:
    """Turn the GEMM path on or off within the block, whatever this CPU's default (`pays_on`): a benchmark's
    baseline, `nn.Conv2d` everywhere, or a test of the path."""
    global _enabled
    saved, _enabled = _enabled, enabled
    try:
        yield
    finally:
        _enabled = saved


class SmallMapConv2d(nn.Conv2d):
    """`nn.Conv2d` that computes a tiny output map on the CPU as unfold + matrix product (see the module's doc)."""

    def output_size(self, x: Tensor) -> tuple[int, int]:
        padding, kernel, stride = self.padding, self.kernel_size, self.stride
        return tuple((x.shape[2 + i] + 2 * padding[i] - kernel[i]) // stride[i] + 1 for i in range(2))

    def gemm_output_size(self, x: Tensor) -> tuple[int, int] | None:
        """The output map's (height, width) if `x` takes the GEMM path, else None."""
        if not (_enabled and x.device.type == "cpu" and x.dim() == 4 and not torch.is_autocast_enabled("cpu")):
            return None
        if self.groups != 1 or self.dilation != (1, 1) or self.padding_mode != "zeros" or isinstance(self.padding, str):
            return None
        height, width = self.output_size(x)
        return (height, width) if height * width <= MAX_GEMM_PIXELS else None

    def takes_gemm(self, x: Tensor) -> bool:
        return self.gemm_output_size(x) is not None

    def forward(self, x: Tensor) -> Tensor:
        if (size := self.gemm_output_size(x)) is None:
            return super().forward(x)
        n, (height, width) = x.shape[0], size
        # (N, C*kh*kw, L) columns, one per output pixel, in the (C, kh, kw) order of a flattened weight.
        columns = F.unfold(x, self.kernel_size, padding=self.padding, stride=self.stride)
        rows = columns.transpose(1, 2).reshape(n * height * width, -1)
        out = rows @ self.weight.reshape(self.out_channels, -1).t()  # (N*L, out_channels)
        if self.bias is not None:
            out = out + self.bias
        # (N, H, W, C) memory viewed as NCHW: the channels_last layout the rest of the network runs in.
        return out.view(n, height, width, self.out_channels).permute(0, 3, 1, 2)


def use_small_map_gemm(model: nn.Module) -> nn.Module:
    """Make every plain `nn.Conv2d` of `model` a `SmallMapConv2d` in place (same parameters and state-dict keys)."""
    for module in model.modules():
        if type(module) is nn.Conv2d:
            module.__class__ = SmallMapConv2d
    return model
