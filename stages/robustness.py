"""Stage `robustness`: the best checkpoint's accuracy on stage `corrupt`'s images, per corruption and severity, and
the means CIFAR-10-C reports (resnet_cifar.robustness.report). Stage `plot` draws them."""
import time

import numpy as np
import torch

from resnet_cifar import paths
from resnet_cifar.analysis.scores import score_logits
from resnet_cifar.atomic import atomic_path, write_json
from resnet_cifar.config import load_params
from resnet_cifar.data.batches import DeviceSplit
from resnet_cifar.data.dataset import Split, load_split
from resnet_cifar.engine.device import resolve_device
from resnet_cifar.engine.inference import predict_logits
from resnet_cifar.errors import report_user_errors, require_inputs
from resnet_cifar.model.checkpoint import load_model
from resnet_cifar.robustness.report import results_table, rounded, severity_means, summary
from resnet_cifar.robustness.selection import read_corrupted, read_made


def accuracies(model: torch.nn.Module, image_sets: list[np.ndarray], clean: Split, device: torch.device,
               batch_size: int) -> list[float]:
    """Accuracy on each of `image_sets` (clean's images, corrupted or not) against clean's labels; in fp32, like
    the test metrics, so that the numbers do not depend on the training precision. The sets are classified
    together: a sample of a few dozen images per set would make batches too small to be fast."""
    images = np.concatenate(image_sets)
    labels = np.tile(clean.labels, len(image_sets))
    data = DeviceSplit(Split(images, labels, np.arange(len(labels)), clean.classes), device)
    logits = predict_logits(model, data, batch_size, precision="fp32").cpu().numpy()
    return [score_logits(part, clean.labels).accuracy for part in np.split(logits, len(image_sets))]


@report_user_errors
def main() -> None:
    params = load_params()
    require_inputs([paths.BEST_CHECKPOINT, paths.CORRUPTED_CLEAN], "robustness")
    device = resolve_device(params.train.device)
    model, _ = load_model(paths.BEST_CHECKPOINT, device)
    clean = load_split(paths.CORRUPTED_CLEAN)
    names, severities = read_made(paths.CORRUPTED_CLEAN)
    batch_size = params.evaluate.batch_size
    started = time.perf_counter()
    [clean_accuracy] = accuracies(model, [clean.images], clean, device, batch_size)
    results = {}
    for name in names:
        image_sets = read_corrupted(paths.CORRUPTED, name, severities)
        for severity, value in zip(severities, accuracies(model, image_sets, clean, device, batch_size), strict=True):
            results[name, severity] = value
        print(f"{name}: accuracy {', '.join(f'{results[name, s]:.3f}' for s in severities)} at severities "
              f"{', '.join(map(str, severities))}", flush=True)

    table = results_table(results)
    metrics = rounded(summary(table, clean_accuracy))
    write_json(paths.ROBUSTNESS_METRICS, metrics)
    with atomic_path(paths.ROBUSTNESS_TABLE) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6f")
    standard = f", {metrics['corrupted_acc_15']:.4f} over the standard 15" if "corrupted_acc_15" in metrics else ""
    by_severity = ", ".join(f"{s}: {a:.4f}" for s, a in severity_means(table).items())
    print(f"corrupted accuracy {metrics['corrupted_acc']:.4f}{standard} (by severity {by_severity}), clean "
          f"{clean_accuracy:.4f} on the same {len(clean)} images; {len(names)} corruptions x {len(severities)} "
          f"severities in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
