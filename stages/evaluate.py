"""Stage `evaluate`: test metrics of the best checkpoint, per-class scores and the confusion data."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout's package, also in exp workspaces

import numpy as np  # noqa: E402
import torch  # noqa: E402

from resnet_cifar.atomic import atomic_path, write_json  # noqa: E402
from resnet_cifar.batches import DeviceSplit  # noqa: E402
from resnet_cifar.checkpoint import load_model  # noqa: E402
from resnet_cifar.config import load_params  # noqa: E402
from resnet_cifar.dataset import load_split  # noqa: E402
from resnet_cifar.device import resolve_device  # noqa: E402
from resnet_cifar.errors import report_user_errors  # noqa: E402
from resnet_cifar.evaluation import confusion_table, loss_and_accuracy, per_class_table, predict_logits  # noqa: E402

CHECKPOINT = Path("models/best.pt")
TEST_SUBSET = Path("data/subsets/test.npz")
METRICS = Path("metrics/evaluate.json")
RESULTS = Path("results")


def write_csv(frame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.4f")


@report_user_errors
def main() -> None:
    params = load_params()
    device = resolve_device(params.train.device)
    model, meta = load_model(CHECKPOINT, device)
    test_split = load_split(TEST_SUBSET)
    test = DeviceSplit(test_split, device)
    # fp32 for the reported numbers: they should not depend on the training precision.
    logits = predict_logits(model, test, params.evaluate.batch_size, precision="fp32")
    loss, accuracy = loss_and_accuracy(logits, test.labels)
    probs = torch.softmax(logits, dim=1).cpu().numpy()
    labels, predicted = test_split.labels, probs.argmax(1)

    write_json(METRICS, {"accuracy": round(accuracy, 6), "loss": round(loss, 6), "images": len(test),
                         "checkpoint_epoch": meta.get("epoch")})
    write_csv(per_class_table(labels, predicted, test_split.classes), RESULTS / "per_class.csv")
    write_csv(confusion_table(labels, predicted, test_split.classes), RESULTS / "confusion.csv")
    with atomic_path(RESULTS / "predictions.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, probs=probs.astype(np.float32), labels=labels, predicted=predicted)
    print(f"test accuracy {accuracy:.4f}, loss {loss:.4f} on {len(test)} images (best epoch {meta.get('epoch')})")


if __name__ == "__main__":
    main()
