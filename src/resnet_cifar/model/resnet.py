"""ResNet with the CIFAR stem (He et al., 2015, "Deep Residual Learning for Image Recognition").

The ImageNet stem (a 7x7 stride-2 convolution, then a max-pool) would shrink a 32x32 image to 8x8 before `layer1`;
the CIFAR stem is a single 3x3 stride-1 convolution and no max-pool, so `layer1` sees the full resolution. The blocks,
stages, initialisation and state-dict keys are torchvision's `models/resnet.py` (a Bottleneck downsamples in its 3x3
convolution: "ResNet v1.5"), and so is every initial weight for a given seed (tests/test_models.py compares them):
the network is built here rather than imported, because importing torchvision costs every stage process about a
second (its ops import torch's compiler).

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

from ..config import ModelParams
from ..datasets import CHANNELS, CIFAR10, IMAGE_SIDE
from .architectures import BASIC, BOTTLENECK, LAYOUTS
from .small_maps import use_small_map_gemm

CIFAR10_CLASSES = CIFAR10.label_sets["fine"]  # the default head

STAGE_PLANES = (64, 128, 256, 512)


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions and the shortcut (ResNet-18/34); the first convolution strides."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample  # the shortcut's 1x1 convolution where the shape changes

    @property
    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn2

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 down to `planes`, 3x3 (strided), 1x1 up to 4 x `planes`, and the shortcut (ResNet-50/101/152)."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv1x1(in_planes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    @property
    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn3

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


Block = type[BasicBlock] | type[Bottleneck]


class ResNet(nn.Module):
    """Four stages of 64, 128, 256, 512 planes (times the block's expansion), global average pool, linear head, with
    the CIFAR stem, an `image_size` and the pooled penultimate `features`."""

    def __init__(self, block: Block, layers: list[int], num_classes: int = CIFAR10_CLASSES,
                 zero_init_residual: bool = False, image_size: int = IMAGE_SIDE) -> None:
        super().__init__()
        self.image_size = image_size
        # Modules are made, and so draw their random initial weights, in torchvision's order, starting with its
        # ImageNet stem: replaced below, it keeps every later weight what the same seed gave before.
        self.conv1 = nn.Conv2d(CHANNELS, STAGE_PLANES[0], kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(STAGE_PLANES[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity()  # the CIFAR stem has none
        in_planes = STAGE_PLANES[0]
        for index, (planes, blocks) in enumerate(zip(STAGE_PLANES, layers), 1):
            stage, in_planes = make_stage(block, in_planes, planes, blocks, stride=1 if index == 1 else 2)
            setattr(self, f"layer{index}", stage)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(in_planes, num_classes)
        self.num_features = in_planes
        for m in self.modules():  # He init for convolutions, BatchNorm as identity (the Linear keeps its default)
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:  # each residual branch starts at zero: every block begins as the identity
            for m in self.modules():
                if isinstance(m, BasicBlock | Bottleneck):
                    nn.init.constant_(m.last_bn.weight, 0)
        self.conv1 = conv3x3(CHANNELS, STAGE_PLANES[0])  # the CIFAR stem
        nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")
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


def make_stage(block: Block, in_planes: int, planes: int, blocks: int, stride: int) -> tuple[nn.Sequential, int]:
    """`blocks` blocks, the first striding and, where the shape changes, with a 1x1 shortcut (made before the block,
    as torchvision makes it); the stage and its output planes."""
    out_planes = planes * block.expansion
    downsample = None
    if stride != 1 or in_planes != out_planes:
        downsample = nn.Sequential(conv1x1(in_planes, out_planes, stride), nn.BatchNorm2d(out_planes))
    stage = [block(in_planes, planes, stride, downsample)]
    stage += [block(out_planes, planes) for _ in range(1, blocks)]
    return nn.Sequential(*stage), out_planes


BLOCKS: dict[str, Block] = {BASIC: BasicBlock, BOTTLENECK: Bottleneck}

# One builder per depth: builder(num_classes, zero_init_residual=..., image_size=...).
BUILDERS: dict[str, Callable[..., ResNet]] = {
    arch: functools.partial(ResNet, BLOCKS[block], list(layers)) for arch, (block, layers) in LAYOUTS.items()
}


def build_model(arch: str, num_classes: int = CIFAR10_CLASSES, zero_init_residual: bool = False,
                image_size: int = IMAGE_SIDE) -> ResNet:
    try:
        builder = BUILDERS[arch]
    except KeyError:
        raise ValueError(f"unknown architecture '{arch}'; choose one of: {', '.join(BUILDERS)}") from None
    return builder(num_classes, zero_init_residual=zero_init_residual, image_size=image_size)


def model_from_params(params: ModelParams, num_classes: int = CIFAR10_CLASSES) -> ResNet:
    """The network that the `model` section of params.yaml describes."""
    return build_model(params.arch, num_classes, params.zero_init_residual, params.image_size)
