"""Stage `download`: fetch the CIFAR-10 archive named by data.url, check data.md5, extract to data/raw."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout's package, also in exp workspaces

from resnet_cifar.config import load_params  # noqa: E402
from resnet_cifar.download import download_cifar10  # noqa: E402
from resnet_cifar.errors import report_user_errors  # noqa: E402

OUT_DIR = Path("data/raw")


@report_user_errors
def main() -> None:
    data = load_params().data
    batches = download_cifar10(data.url, data.md5, OUT_DIR)
    print(f"CIFAR-10 batches in {batches}")


if __name__ == "__main__":
    main()
