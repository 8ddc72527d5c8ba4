"""Stage `evaluate`: test metrics of the best checkpoint (optionally with flip test-time augmentation), the
classification report, per-class accuracy, calibration, confusion data and the penultimate features."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout's package, also in exp workspaces

import numpy as np  # noqa: E402
import torch  # noqa: E402

from resnet_cifar.atomic import atomic_path, write_json, write_npz  # noqa: E402
from resnet_cifar.batches import DeviceSplit  # noqa: E402
from resnet_cifar.calibration import expected_calibration_error, reliability_table  # noqa: E402
from resnet_cifar.checkpoint import load_model  # noqa: E402
from resnet_cifar.config import load_params  # noqa: E402
from resnet_cifar.dataset import load_split  # noqa: E402
from resnet_cifar.device import resolve_device  # noqa: E402
from resnet_cifar.errors import report_user_errors  # noqa: E402
from resnet_cifar.evaluation import (  # noqa: E402
    classification_report_table, confusion_table, flip_averaged_log_probs, loss_and_accuracy, per_class_accuracy,
    predict_features_and_logits, predict_mirrored_logits)

CHECKPOINT = Path("models/best.pt")
TEST_SUBSET = Path("data/subsets/test.npz")
METRICS = Path("metrics/evaluate.json")
PER_CLASS_METRICS = Path("metrics/per_class.json")
RESULTS = Path("results")


def write_csv(frame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.4f")


@report_user_errors
def main() -> None:
    params = load_params()
    p = params.evaluate
    device = resolve_device(params.train.device)
    model, meta = load_model(CHECKPOINT, device)
    test_split = load_split(TEST_SUBSET)
    test = DeviceSplit(test_split, device)
    # fp32 for the reported numbers: they should not depend on the training precision.
    features, logits = predict_features_and_logits(model, test, p.batch_size, precision="fp32")
    loss, accuracy = loss_and_accuracy(logits, test.labels)
    probs = torch.softmax(logits, dim=1).cpu().numpy()
    labels, predicted, confidence = test_split.labels, probs.argmax(1), probs.max(1)
    calibration = reliability_table(confidence, predicted == labels, p.calibration_bins)

    metrics = {"accuracy": round(accuracy, 6), "loss": round(loss, 6),
               "ece": round(expected_calibration_error(calibration), 6)}
    if p.tta:
        mirrored = predict_mirrored_logits(model, test, p.batch_size, precision="fp32")
        tta_loss, tta_accuracy = loss_and_accuracy(flip_averaged_log_probs(logits, mirrored), test.labels)
        metrics["tta"] = {"accuracy": round(tta_accuracy, 6), "loss": round(tta_loss, 6)}
    write_json(METRICS, metrics)
    report = classification_report_table(labels, predicted, test_split.classes)
    write_json(PER_CLASS_METRICS, {"accuracy": {name: None if acc is None else round(acc, 6)
                                                for name, acc in per_class_accuracy(report).items()}})
    write_csv(report, RESULTS / "classification_report.csv")
    write_csv(calibration, RESULTS / "calibration.csv")
    write_csv(confusion_table(labels, predicted, test_split.classes), RESULTS / "confusion.csv")
    write_npz(RESULTS / "predictions.npz", probs=probs.astype(np.float32), labels=labels, predicted=predicted)
    # float16 halves the file; the t-SNE map does not need more precision.
    write_npz(RESULTS / "features.npz", features=features.cpu().numpy().astype(np.float16))
    tta = f" (flip TTA: accuracy {metrics['tta']['accuracy']:.4f})" if p.tta else ""
    print(f"test accuracy {accuracy:.4f}, loss {loss:.4f}, ECE {metrics['ece']:.4f} on {len(test)} images "
          f"(best epoch {meta.get('epoch')}){tta}")


if __name__ == "__main__":
    main()
