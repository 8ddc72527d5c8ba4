"""`resnet-cifar-predict`: the top-k classes of image files, by a trained checkpoint.

Images of any size and mode become 32x32 RGB as a folder dataset's images do (`data.images.load_image`), are
normalised exactly as the test images are in evaluation (`batches.normalize`), then classified in fp32 and eval
mode. The class names are the checkpoint's.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..data.batches import normalize
from ..data.images import load_image
from ..engine.device import resolve_device
from ..errors import UserError, report_user_errors
from ..model.checkpoint import load_model

BATCH_SIZE = 256


@torch.no_grad()
def class_probabilities(model: torch.nn.Module, images: np.ndarray, device: torch.device) -> Tensor:
    """Softmax probabilities (N, classes) of uint8 images (N, 3, 32, 32)."""
    batches = torch.from_numpy(images).to(device).split(BATCH_SIZE)
    return torch.cat([torch.softmax(model(normalize(batch)).float(), 1) for batch in batches]).cpu()


def predict_files(checkpoint: Path, paths: list[Path], top_k: int) -> list[list[tuple[str, float]]]:
    """For each image file, its `top_k` (class name, probability) pairs, most probable first."""
    device = resolve_device("auto", claim=False)  # a few images: better a busy GPU than waiting for a free one
    model, meta = load_model(checkpoint, device)
    classes = meta["classes"]
    if not 1 <= top_k <= len(classes):
        raise UserError(f"--top-k must be between 1 and {len(classes)} (the model's classes), got {top_k}")
    probs = class_probabilities(model, np.stack([load_image(p) for p in paths]), device)
    values, indices = probs.topk(top_k, dim=1)
    return [[(classes[i], float(v)) for v, i in zip(row_values, row_indices)]
            for row_values, row_indices in zip(values.tolist(), indices.tolist())]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    description = "Print the top-k classes of image files, by a trained checkpoint."
    parser = argparse.ArgumentParser(prog="resnet-cifar-predict", description=description)
    parser.add_argument("checkpoint", type=Path, help="a checkpoint written by the train stage, e.g. models/best.pt")
    parser.add_argument("images", type=Path, nargs="+", help="image files (PNG, JPEG, ...) of any size")
    parser.add_argument("-k", "--top-k", type=int, default=3, help="classes to print per image (default: 3)")
    return parser.parse_args(argv)


@report_user_errors
def main() -> None:
    args = parse_args()
    for path, top in zip(args.images, predict_files(args.checkpoint, args.images, args.top_k)):
        print(path)
        for rank, (name, probability) in enumerate(top, 1):
            print(f"  {rank}. {name:<13} {probability:.4f}")


if __name__ == "__main__":
    main()
