"""Training throughput with and without the GEMM path for tiny maps (src/resnet_cifar/model/small_maps.py), one run.

The same Trainer (the train stage's: `build_trainer`) on the same synthetic batches, once with every convolution
computed by oneDNN (`nn.Conv2d`, the baseline) and once with the convolutions whose output map has at most
`MAX_GEMM_PIXELS` pixels computed as unfold + matrix product. For each image size it prints images/s both ways and
their ratio, and the largest difference between the two ways' logits for one batch at the initial weights (the
summation order of floats is all that differs).

    python benchmarks/small_maps.py                          # ResNet-18, image sizes 8, 12, 16 and 32, batch 64
    python benchmarks/small_maps.py --sizes 12 --batch 128
"""
from __future__ import annotations

import argparse

import torch

from harness import params_with, synthetic_split
from resnet_cifar.data.batches import DeviceSplit, normalize
from resnet_cifar.engine.run import build_trainer
from resnet_cifar.model.small_maps import MAX_GEMM_PIXELS, small_map_gemm


def images_per_sec(arch: str, size: int, batch: int, steps: int, gemm: bool) -> tuple[float, torch.Tensor]:
    """Images/s of the second of two epochs of `steps` batches (the first warms up), and the initial model's logits
    for the first batch."""
    params = params_with({
        "model.arch": arch, "model.image_size": size, "train.batch_size": batch, "train.epochs": 2,
        "train.precise_bn_batches": 0, "train.precision": "fp32"})
    split = synthetic_split(batch * steps)
    with small_map_gemm(gemm):
        trainer = build_trainer(params, split, synthetic_split(batch), torch.device("cpu"))
        with torch.no_grad():
            logits = trainer.model(normalize(DeviceSplit(split, torch.device("cpu")).images[:batch]))
        trainer.train_epoch()
        result = trainer.train_epoch()
    return result.images_per_sec, logits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--sizes", type=int, nargs="+", default=[8, 12, 16, 32])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10, help="timed steps per way and size")
    args = ap.parse_args()
    print(f"{args.arch}, batch {args.batch}, {args.steps} timed steps, fp32 on the CPU "
          f"({torch.get_num_threads()} threads); GEMM for output maps of at most {MAX_GEMM_PIXELS} pixels")
    print("| image size | oneDNN everywhere (img/s) | with the GEMM path (img/s) | ratio | max logit difference |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for size in args.sizes:
        # The same seed and data both ways, so both trainers start from the same weights.
        base, base_logits = images_per_sec(args.arch, size, args.batch, args.steps, gemm=False)
        gemm, gemm_logits = images_per_sec(args.arch, size, args.batch, args.steps, gemm=True)
        difference = (base_logits - gemm_logits).abs().max().item()
        print(f"| {size} | {base:.1f} | {gemm:.1f} | {gemm / base:.2f} | {difference:.2g} |", flush=True)


if __name__ == "__main__":
    main()
