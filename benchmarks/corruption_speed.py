"""How long the 19 CIFAR-10-C corruptions take at all five severities, on the official test images.

Corrupts the first N official test images (all 10,000 by default, the full CIFAR-10-C set) with every corruption
at every severity, and prints each corruption's seconds (summed over severities) and mean absolute difference
from the clean images per severity (in 8-bit levels), then the total and images per second.

    python benchmarks/corruption_speed.py --archive cifar-10-python.tar.gz
    python benchmarks/corruption_speed.py --archive cifar-10-python.tar.gz --images 1000
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from resnet_cifar.archive.download import safe_extract
from resnet_cifar.corruption_table import CORRUPTIONS, FAMILY, SEVERITIES
from resnet_cifar.data.cifar import read_cifar10
from resnet_cifar.paths import RAW_BATCHES
from resnet_cifar.robustness.corruptions import corrupt


def official_test_images(archive: Path, count: int) -> np.ndarray:
    with tempfile.TemporaryDirectory() as folder:
        safe_extract(archive, Path(folder))
        _, test = read_cifar10(Path(folder) / RAW_BATCHES.name)
    return test.images[:count]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--archive", type=Path, required=True, help="the official cifar-10-python.tar.gz")
    ap.add_argument("--images", type=int, default=10_000, help="how many test images (default: all 10,000)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    images = official_test_images(args.archive, args.images)
    print(f"{len(images)} test images x {len(CORRUPTIONS)} corruptions x {len(SEVERITIES)} severities")
    print(f"{'corruption':18} {'family':8} {'seconds':>8}   mean |difference| at severity 1..5")
    total = 0.0
    for name in CORRUPTIONS:
        seconds, distances = 0.0, []
        for severity in SEVERITIES:
            start = time.perf_counter()
            out = corrupt(images, name, severity, args.seed)
            seconds += time.perf_counter() - start
            distances.append(np.abs(out.astype(np.int16) - images).mean())
        total += seconds
        print(f"{name:18} {FAMILY[name]:8} {seconds:8.2f}   " + " ".join(f"{d:6.2f}" for d in distances))
    corrupted = len(images) * len(CORRUPTIONS) * len(SEVERITIES)
    print(f"total: {total:.1f} s for {corrupted} corrupted images, {corrupted / total:.0f} images/s")


if __name__ == "__main__":
    main()
