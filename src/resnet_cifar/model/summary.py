"""Model summary: parameters per component (stem, layer1-4, head), total, and float32 size."""
from __future__ import annotations

import torchinfo

from ..datasets import IMAGE_SHAPE
from .resnet import ResNet

COMPONENTS = {
    "stem": ("conv1", "bn1"),
    "layer1": ("layer1",),
    "layer2": ("layer2",),
    "layer3": ("layer3",),
    "layer4": ("layer4",),
    "head": ("fc",),
}


def parameter_counts(model: ResNet) -> dict[str, int]:
    counts = {
        component: sum(p.numel() for name in modules for p in getattr(model, name).parameters())
        for component, modules in COMPONENTS.items()
    }
    counts["total"] = sum(p.numel() for p in model.parameters())
    return counts


def size_mb_fp32(total_params: int) -> float:
    return round(total_params * 4 / 2**20, 2)


def model_metrics(model: ResNet) -> dict[str, float]:
    """The two numbers worth a column in `dvc exp show`; the per-component breakdown is in `summary_table`."""
    total = sum(p.numel() for p in model.parameters())
    return {"params": total, "size_mb_fp32": size_mb_fp32(total)}


def summary_table(model: ResNet) -> str:
    """Parameters per component, then torchinfo's layer table for one 32x32 image."""
    counts = parameter_counts(model)
    lines = [f"{component:<8}{count:>14,}" for component, count in counts.items()]
    lines.append(f"{'float32 size':<12}{size_mb_fp32(counts['total']):>7.2f} MiB")
    stats = torchinfo.summary(model, input_size=(1, *IMAGE_SHAPE), depth=2, verbose=0, device="cpu",
                              col_names=("output_size", "num_params"), row_settings=("var_names",))
    return "\n".join(lines) + "\n\n" + str(stats) + "\n"
