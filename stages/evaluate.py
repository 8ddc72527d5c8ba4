"""Stage `evaluate`: test metrics of the best checkpoint (optionally also with test-time augmentation), the
classification report, per-class accuracy, calibration, confusion data and the penultimate features."""
import sys
from pathlib import Path

import pandas as pd

from resnet_cifar import paths
from resnet_cifar.analysis.calibration import expected_calibration_error, reliability_table
from resnet_cifar.analysis.reports import classification_report_table, confusion_table, per_class_accuracy
from resnet_cifar.analysis.scores import score_logits
from resnet_cifar.atomic import atomic_path, write_json, write_npz
from resnet_cifar.config import load_params
from resnet_cifar.data.batches import DeviceSplit
from resnet_cifar.data.dataset import load_split
from resnet_cifar.engine.device import resolve_device
from resnet_cifar.engine.inference import predict_features_and_logits, tta_log_probs
from resnet_cifar.errors import report_user_errors
from resnet_cifar.model.checkpoint import load_model


def write_csv(frame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.4f")


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def shown(value: float | None) -> str:
    return "null" if value is None else f"{value:.4f}"


@report_user_errors
def main() -> None:
    """Scores follow `analysis.scores`: a diverged model (logits not finite) still gets every output, an accuracy
    that counts its images without a prediction as wrong, a null loss (and ECE, if no image has a prediction) and a
    one-line warning on stderr, never NaN or Infinity, which JSON and so DVC cannot read."""
    params = load_params()
    p = params.evaluate
    device = resolve_device(params.train.device)
    model, meta = load_model(paths.BEST_CHECKPOINT, device)
    test_split = load_split(paths.TEST_SUBSET)
    test = DeviceSplit(test_split, device)
    # fp32 for the reported numbers: they should not depend on the training precision.
    features, logits = predict_features_and_logits(model, test, p.batch_size, precision="fp32")
    labels = test_split.labels
    scores = score_logits(logits.cpu().numpy(), labels)
    predicted, has_prediction = scores.predicted, scores.has_prediction
    calibration = reliability_table(scores.probs.max(1)[has_prediction], (predicted == labels)[has_prediction],
                                    p.calibration_bins)
    ece = expected_calibration_error(calibration)

    metrics = {"accuracy": rounded(scores.accuracy), "loss": rounded(scores.loss), "ece": rounded(ece)}
    warnings = [scores.warning("test images")]
    if p.tta != "none":
        tta = score_logits(tta_log_probs(model, test, p.batch_size, "fp32", p.tta, logits).cpu().numpy(), labels)
        metrics["tta"] = {"accuracy": rounded(tta.accuracy), "loss": rounded(tta.loss)}
        warnings.append(tta.warning(f"test images with {p.tta} TTA"))
    for line in filter(None, warnings):
        print(line, file=sys.stderr)
    write_json(paths.EVALUATE_METRICS, metrics)
    report = classification_report_table(labels, predicted, test_split.classes)
    # A bar chart of `dvc plots`, not metrics: ten more columns would crowd `dvc exp show`.
    write_csv(pd.DataFrame(list(per_class_accuracy(report).items()), columns=["class", "accuracy"]),
              paths.PER_CLASS)
    write_csv(report, paths.CLASSIFICATION_REPORT)
    write_csv(calibration, paths.CALIBRATION)
    write_csv(confusion_table(labels, predicted, test_split.classes), paths.CONFUSION)
    write_npz(paths.PREDICTIONS, probs=scores.probs, labels=labels, predicted=predicted)
    # float32, not float16: a diverged model's features exceed float16's range and would be stored as infinity.
    write_npz(paths.FEATURES, features=features.cpu().numpy())
    tta_text = f" ({p.tta} TTA: accuracy {metrics['tta']['accuracy']:.4f})" if p.tta != "none" else ""
    print(f"test accuracy {scores.accuracy:.4f}, loss {shown(scores.loss)}, ECE {shown(ece)} on {len(test)} images "
          f"(best epoch {meta.get('epoch')}){tta_text}")


if __name__ == "__main__":
    main()
