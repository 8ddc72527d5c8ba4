"""The ResNet depths (He et al., 2015, table 1): each architecture's block and its number of blocks per stage.

Plain data, free of torch: model/resnet.py builds its `BUILDERS` from it. The names are config.py's `Architecture`,
the choices that params validation holds `model.arch` to (tests/test_models.py checks that they match).
"""
from __future__ import annotations

from ..config import Architecture

BASIC = "basic"  # two 3x3 convolutions
BOTTLENECK = "bottleneck"  # 1x1 reduce, 3x3, 1x1 expand (x4)

LAYOUTS: dict[Architecture, tuple[str, tuple[int, int, int, int]]] = {
    "resnet18": (BASIC, (2, 2, 2, 2)),
    "resnet34": (BASIC, (3, 4, 6, 3)),
    "resnet50": (BOTTLENECK, (3, 4, 6, 3)),
    "resnet101": (BOTTLENECK, (3, 4, 23, 3)),
    "resnet152": (BOTTLENECK, (3, 8, 36, 3)),
}
