"""Stage `evaluate`: test metrics of the best checkpoint (optionally with flip test-time augmentation), the
classification report, per-class accuracy, calibration, confusion data and the penultimate features."""
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from resnet_cifar.analysis.calibration import expected_calibration_error, reliability_table
from resnet_cifar.analysis.reports import classification_report_table, confusion_table, per_class_accuracy
from resnet_cifar.atomic import atomic_path, write_json, write_npz
from resnet_cifar.config import load_params
from resnet_cifar.data.batches import DeviceSplit
from resnet_cifar.data.dataset import load_split
from resnet_cifar.engine.device import resolve_device
from resnet_cifar.engine.inference import (
    flip_averaged_log_probs,
    loss_and_accuracy,
    predict_features_and_logits,
    predict_mirrored_logits,
)
from resnet_cifar.errors import report_user_errors
from resnet_cifar.model.checkpoint import load_model

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
    # A bar chart of `dvc plots`, not metrics: ten more columns would crowd `dvc exp show`.
    write_csv(pd.DataFrame(list(per_class_accuracy(report).items()), columns=["class", "accuracy"]),
              RESULTS / "per_class.csv")
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
