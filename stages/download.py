"""Stage `download`: fetch the CIFAR-10 archive named by data.url, check data.md5, extract to data/raw."""
from resnet_cifar import paths
from resnet_cifar.archive.download import download_cifar10
from resnet_cifar.config import load_params
from resnet_cifar.errors import report_user_errors


@report_user_errors
def main() -> None:
    data = load_params().data
    batches = download_cifar10(data.url, data.md5, paths.RAW)
    print(f"CIFAR-10 batches in {batches}")


if __name__ == "__main__":
    main()
