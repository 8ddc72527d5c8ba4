"""Stage `download`: fetch the archive named by data.url, check data.md5, and unpack it into data/raw: a CIFAR
archive extracted as it is, a folder of your images decoded into arrays (resnet_cifar.data.images)."""
import tempfile
from pathlib import Path

from resnet_cifar import paths
from resnet_cifar.archive.download import download_archive, official_unpacker, safe_extract
from resnet_cifar.config import load_params
from resnet_cifar.data.images import pack_image_folder
from resnet_cifar.datasets import DATASETS
from resnet_cifar.errors import report_user_errors


def unpack_image_folder(archive: Path, dest: Path) -> Path:
    """Extract beside `dest`, then keep only the decoded images: every image is read once, here, so a bad one
    fails the download and leaves nothing."""
    with tempfile.TemporaryDirectory(prefix=".extracted-", dir=dest.parent) as extracted:
        safe_extract(archive, Path(extracted))
        pack_image_folder(Path(extracted), {split: dest / file.relative_to(paths.RAW)
                                            for split, file in paths.RAW_IMAGE_SPLITS.items()})
    return dest / paths.RAW_FOLDERS["folder"].relative_to(paths.RAW)


@report_user_errors
def main() -> None:
    data = load_params().data
    unpack = unpack_image_folder if data.dataset == "folder" else official_unpacker(data.dataset)
    folder = download_archive(data.url, data.md5, paths.RAW, unpack)
    print(f"{DATASETS[data.dataset].title} in {folder}")


if __name__ == "__main__":
    main()
