"""Stage `subset`: seeded train / validation / test subsets as compact uint8 arrays in data/subsets."""
from pathlib import Path

from resnet_cifar.config import load_params
from resnet_cifar.data.dataset import make_subsets, read_cifar10, save_split
from resnet_cifar.errors import report_user_errors

RAW_DIR = Path("data/raw/cifar-10-batches-py")
OUT_DIR = Path("data/subsets")


@report_user_errors
def main() -> None:
    params = load_params()
    train, test, _ = read_cifar10(RAW_DIR)
    for name, split in make_subsets(train, test, params.data, params.seed).items():
        save_split(split, OUT_DIR / f"{name}.npz")
        counts = " ".join(str(int((split.labels == c).sum())) for c in range(len(split.classes)))
        print(f"{name}: {len(split)} images, per class: {counts}")


if __name__ == "__main__":
    main()
