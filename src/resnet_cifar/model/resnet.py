"""torchvision's ResNet with the CIFAR stem (He et al., 2015, "Deep Residual Learning for Image Recognition").

The ImageNet stem (a 7x7 stride-2 convolution, then a max-pool) would shrink a 32x32 image to 8x8 before `layer1`;
the CIFAR stem is a single 3x3 stride-1 convolution and no max-pool, so `layer1` sees the full resolution. The blocks,
stages, initialisation and state-dict keys are torchvision's (a Bottleneck downsamples in its 3x3 convolution:
"ResNet v1.5").

`image_size` below 32 makes the network see every larger image downsampled to that side (antialiased bilinear,
inside `features`, so training, evaluation and prediction all agree): the same weights, a fraction of the compute
(16x16 is about a quarter), for short CPU budgets. There the last stage runs on 2x2 or 1x1 maps, which the CPU
computes faster as one matrix product (`small_maps.py`).
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock, Bottleneck
from torchvision.models.resnet import ResNet as TorchvisionResNet

from ..config import ModelParams
from ..datasets import CIFAR10
from .architectures import BASIC, BOTTLENECK, LAYOUTS
from .small_maps import use_small_map_gemm

Block = type[BasicBlock] | type[Bottleneck]


class ResNet(TorchvisionResNet):
    """torchvision's ResNet (four stages of 64, 128, 256, 512 planes, global average pool, linear head) with the CIFAR
    stem, an `image_size` and the pooled penultimate `features`."""

    def __init__(self, block: Block, layers: list[int], num_classes: int = CIFAR10.classes,
                 zero_init_residual: bool = False, image_size: int = CIFAR10.image_side) -> None:
        super().__init__(block, layers, num_classes, zero_init_residual=zero_init_residual)
        self.image_size = image_size
        self.conv1 = nn.Conv2d(CIFAR10.channels, self.bn1.num_features, kernel_size=3, stride=1, padding=1, bias=False)
        # The init torchvision gives every convolution, which ran before this one existed.
        nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.maxpool = nn.Identity()
        self.num_features = self.fc.in_features
        use_small_map_gemm(self)  # the 2x2 and 1x1 maps of small images: one GEMM on the CPU (small_maps.py)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate features: the pooled output of `layer4`, shape (N, num_features)."""
        if max(x.shape[-2:]) > self.image_size:
            channels_last = x.is_contiguous(memory_format=torch.channels_last)
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", antialias=True)
            if channels_last:  # keep the layout the caller chose for speed
                x = x.contiguous(memory_format=torch.channels_last)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))


BLOCKS: dict[str, Block] = {BASIC: BasicBlock, BOTTLENECK: Bottleneck}

# One builder per depth: builder(num_classes, zero_init_residual=..., image_size=...).
BUILDERS: dict[str, Callable[..., ResNet]] = {
    arch: functools.partial(ResNet, BLOCKS[block], list(layers)) for arch, (block, layers) in LAYOUTS.items()
}


def build_model(arch: str, num_classes: int = CIFAR10.classes, zero_init_residual: bool = False,
                image_size: int = CIFAR10.image_side) -> ResNet:
    try:
        builder = BUILDERS[arch]
    except KeyError:
        raise ValueError(f"unknown architecture '{arch}'; choose one of: {', '.join(BUILDERS)}") from None
    return builder(num_classes, zero_init_residual=zero_init_residual, image_size=image_size)


def model_from_params(params: ModelParams, num_classes: int = CIFAR10.classes) -> ResNet:
    """The network that the `model` section of params.yaml describes."""
    return build_model(params.arch, num_classes, params.zero_init_residual, params.image_size)
