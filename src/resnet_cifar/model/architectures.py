"""The ResNet depths (He et al., 2015, table 1): each architecture's block and its number of blocks per stage.

Plain data, free of torch: model/resnet.py builds its `BUILDERS` from it, and params validation (config.py, which
every stage imports, `download` too) reads the valid `model.arch` names from it without loading torch.
"""
from __future__ import annotations

BASIC = "basic"  # two 3x3 convolutions
BOTTLENECK = "bottleneck"  # 1x1 reduce, 3x3, 1x1 expand (x4)

LAYOUTS: dict[str, tuple[str, tuple[int, int, int, int]]] = {
    "resnet18": (BASIC, (2, 2, 2, 2)),
    "resnet34": (BASIC, (3, 4, 6, 3)),
    "resnet50": (BOTTLENECK, (3, 4, 6, 3)),
    "resnet101": (BOTTLENECK, (3, 4, 23, 3)),
    "resnet152": (BOTTLENECK, (3, 8, 36, 3)),
}
ARCHITECTURES = tuple(LAYOUTS)
