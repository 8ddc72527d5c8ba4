"""Stage `corrupt`: a seeded sample of the test subset under each chosen corruption and severity (CIFAR-10-C; the
corruptions are resnet_cifar.robustness.corruptions). Its output depends on the data and these parameters alone,
so DVC keeps it cached across retraining.

data/corrupted/clean.npz holds the sample uncorrupted, in the layout of data/subsets/*.npz (images, labels,
source_index, classes), plus the `corruptions` and `severities` made; data/corrupted/<corruption>.npz holds the
same images corrupted, uint8 (N, 3, 32, 32) in clean.npz's order, under a key per severity (`severity_key`), so
that a reader loads (and decompresses) one severity at a time.
"""
import time
from pathlib import Path

import numpy as np

from resnet_cifar import paths
from resnet_cifar.atomic import write_npz
from resnet_cifar.config import load_params
from resnet_cifar.corruption_table import expand_corruptions
from resnet_cifar.data.dataset import Split, load_split
from resnet_cifar.errors import UserError, report_user_errors
from resnet_cifar.robustness.corruptions import corrupt
from resnet_cifar.robustness.selection import corruption_file, severity_key


def sample(split: Split, count: int, seed: int) -> Split:
    """`count` images of `split`, a seeded draw, in their order in the split."""
    index = np.sort(np.random.default_rng(seed).choice(len(split), size=count, replace=False))
    return Split(split.images[index], split.labels[index], split.source_index[index], split.classes)


def remove_stale(keep: set[Path]) -> None:
    """Delete files of an earlier run by hand with other corruptions: the folder holds this run's files only."""
    for path in paths.CORRUPTED.glob("*.npz"):
        if path not in keep:
            path.unlink()


@report_user_errors
def main() -> None:
    params = load_params()
    p = params.robustness
    names = expand_corruptions(p.corruptions)
    subset = load_split(paths.TEST_SUBSET)
    if len(subset) < p.images:
        raise UserError(f"robustness.images is {p.images}, but {paths.TEST_SUBSET} holds only {len(subset)} images; "
                        f"run `dvc repro subset`")
    test = sample(subset, p.images, params.seed)
    started = time.perf_counter()
    written = set()
    for name in names:
        began = time.perf_counter()
        path = corruption_file(paths.CORRUPTED, name)
        write_npz(path, compressed=True, **{severity_key(severity): corrupt(test.images, name, severity, params.seed)
                                            for severity in p.severities})
        written.add(path)
        print(f"{name}: {len(test)} images x severities {', '.join(map(str, p.severities))} in "
              f"{time.perf_counter() - began:.1f} s", flush=True)
    write_npz(paths.CORRUPTED_CLEAN, compressed=True, images=test.images, labels=test.labels,
              source_index=test.source_index, classes=np.array(test.classes), corruptions=np.array(names),
              severities=np.array(p.severities))
    remove_stale(written | {paths.CORRUPTED_CLEAN})
    print(f"{len(names)} corruptions x {len(p.severities)} severities of {len(test)} test images "
          f"({len(names) * len(p.severities) * len(test)} images) in {time.perf_counter() - started:.1f} s: "
          f"{paths.CORRUPTED}")


if __name__ == "__main__":
    main()
