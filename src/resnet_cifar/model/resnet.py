"""The CIFAR form of ResNet (He et al., 2015, "Deep Residual Learning for Image Recognition").

Compared with the ImageNet network, the stem is a single 3x3 stride-1 convolution and there is no max-pool, so a
32x32 image keeps its resolution through `layer1`. Module names match torchvision's `resnet.py`, so a torchvision
ResNet with the same stem shares this model's state dict. As in torchvision, a Bottleneck downsamples in its 3x3
convolution ("ResNet v1.5").

`image_size` below 32 makes the network see every larger image downsampled to that side (antialiased bilinear,
inside `features`, so training, evaluation and prediction all agree): the same weights, a fraction of the compute
(16x16 is about a quarter), for short CPU budgets.
"""
from __future__ import annotations

from typing import Any, Callable, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import ModelParams
from ..data.dataset import NUM_CLASSES

CIFAR_IMAGE_SIZE = 32


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


def shortcut(in_planes: int, out_planes: int, stride: int) -> nn.Module | None:
    """Projection shortcut (option B of the paper) where the shape changes, identity otherwise."""
    if stride == 1 and in_planes == out_planes:
        return None
    return nn.Sequential(conv1x1(in_planes, out_planes, stride), nn.BatchNorm2d(out_planes))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions: the block of ResNet-18 and ResNet-34."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = shortcut(in_planes, planes * self.expansion, stride)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4): the block of ResNet-50, -101 and -152."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv1x1(in_planes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = shortcut(in_planes, planes * self.expansion, stride)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


Block = Union[type[BasicBlock], type[Bottleneck]]


class ResNet(nn.Module):
    """Stem, four stages (64, 128, 256, 512 planes; stride 1, 2, 2, 2), global average pool, linear head."""

    def __init__(self, block: Block, layers: list[int], num_classes: int = NUM_CLASSES,
                 zero_init_residual: bool = False, image_size: int = CIFAR_IMAGE_SIZE) -> None:
        super().__init__()
        self.image_size = image_size
        self.in_planes = 64
        self.conv1 = conv3x3(3, 64)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_stage(block, 64, layers[0], stride=1)
        self.layer2 = self._make_stage(block, 128, layers[1], stride=2)
        self.layer3 = self._make_stage(block, 256, layers[2], stride=2)
        self.layer4 = self._make_stage(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.num_features = 512 * block.expansion
        self.fc = nn.Linear(self.num_features, num_classes)
        self._init_weights(zero_init_residual)

    def _make_stage(self, block: Block, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = []
        for i in range(blocks):
            layers.append(block(self.in_planes, planes, stride if i == 0 else 1))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def _init_weights(self, zero_init_residual: bool) -> None:
        """Kaiming (fan_out) convolutions, unit BatchNorm. With `zero_init_residual` the last BatchNorm of each
        residual branch starts at zero, so every block starts as the identity (Goyal et al., 2017): faster early
        training."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate features: the pooled output of `layer4`, shape (N, num_features)."""
        if max(x.shape[-2:]) > self.image_size:
            channels_last = x.is_contiguous(memory_format=torch.channels_last)
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", antialias=True)
            if channels_last:  # keep the layout the caller chose for speed
                x = x.contiguous(memory_format=torch.channels_last)
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))


def resnet18(num_classes: int = NUM_CLASSES, **kwargs: Any) -> ResNet:
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, **kwargs)


def resnet34(num_classes: int = NUM_CLASSES, **kwargs: Any) -> ResNet:
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes, **kwargs)


def resnet50(num_classes: int = NUM_CLASSES, **kwargs: Any) -> ResNet:
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, **kwargs)


def resnet101(num_classes: int = NUM_CLASSES, **kwargs: Any) -> ResNet:
    return ResNet(Bottleneck, [3, 4, 23, 3], num_classes, **kwargs)


def resnet152(num_classes: int = NUM_CLASSES, **kwargs: Any) -> ResNet:
    return ResNet(Bottleneck, [3, 8, 36, 3], num_classes, **kwargs)


BUILDERS: dict[str, Callable[..., ResNet]] = {
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "resnet101": resnet101,
    "resnet152": resnet152,
}


def build_model(arch: str, num_classes: int = NUM_CLASSES, zero_init_residual: bool = False,
                image_size: int = CIFAR_IMAGE_SIZE) -> ResNet:
    try:
        builder = BUILDERS[arch]
    except KeyError:
        raise ValueError(f"unknown architecture '{arch}'; choose one of: {', '.join(BUILDERS)}") from None
    return builder(num_classes, zero_init_residual=zero_init_residual, image_size=image_size)


def model_from_params(params: ModelParams, num_classes: int = NUM_CLASSES) -> ResNet:
    """The network that the `model` section of params.yaml describes."""
    return build_model(params.arch, num_classes, params.zero_init_residual, params.image_size)
