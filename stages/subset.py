"""Stage `subset`: seeded train / validation / test subsets as compact uint8 arrays in data/subsets."""
from resnet_cifar import paths
from resnet_cifar.config import load_params
from resnet_cifar.data.dataset import make_subsets, read_cifar10, save_split
from resnet_cifar.errors import report_user_errors


@report_user_errors
def main() -> None:
    params = load_params()
    train, test, _ = read_cifar10(paths.RAW_BATCHES)
    for name, split in make_subsets(train, test, params.data, params.seed).items():
        save_split(split, paths.SUBSET_FILES[name])
        counts = " ".join(str(int((split.labels == c).sum())) for c in range(len(split.classes)))
        print(f"{name}: {len(split)} images, per class: {counts}")


if __name__ == "__main__":
    main()
