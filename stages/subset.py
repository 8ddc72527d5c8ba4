"""Stage `subset`: seeded train / validation / test subsets as compact uint8 arrays in data/subsets."""
from resnet_cifar import paths
from resnet_cifar.config import DataParams, load_params
from resnet_cifar.data.cifar import read_cifar10, read_cifar100
from resnet_cifar.data.dataset import Split, load_split, make_subsets, save_split
from resnet_cifar.errors import report_user_errors

SHOWN_COUNTS = 20  # classes up to which every class's count is printed; above, their range


def read_dataset(data: DataParams) -> tuple[Split, Split]:
    """The official train and test splits of data.dataset, as stage download left them."""
    if data.dataset == "cifar10":
        return read_cifar10(paths.RAW_FOLDERS["cifar10"])
    if data.dataset == "cifar100":
        return read_cifar100(paths.RAW_FOLDERS["cifar100"], data.labels)
    train, test = (load_split(paths.RAW_IMAGE_SPLITS[name], made_by="download") for name in ("train", "test"))
    return train, test


def class_counts(split: Split) -> str:
    counts = [int((split.labels == c).sum()) for c in range(len(split.classes))]
    if len(counts) <= SHOWN_COUNTS:
        return "per class: " + " ".join(map(str, counts))
    return f"{len(counts)} classes of {min(counts)} to {max(counts)} images"


@report_user_errors
def main() -> None:
    params = load_params()
    train, test = read_dataset(params.data)
    for name, split in make_subsets(train, test, params.data, params.seed).items():
        save_split(split, paths.SUBSET_FILES[name])
        print(f"{name}: {len(split)} images, {class_counts(split)}")


if __name__ == "__main__":
    main()
