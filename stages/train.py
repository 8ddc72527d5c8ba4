"""Stage `train`: train model.arch on the train subset, keep the best (by validation accuracy) and last models.

Per-epoch metrics go to metrics/train through DVCLive; the model summary to metrics/model.json and
models/summary.txt.
"""
import copy
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout's package, also in exp workspaces

import torch  # noqa: E402
from dvclive import Live  # noqa: E402

from resnet_cifar.atomic import write_json, write_text  # noqa: E402
from resnet_cifar.batches import DeviceSplit  # noqa: E402
from resnet_cifar.checkpoint import save_checkpoint  # noqa: E402
from resnet_cifar.config import load_params  # noqa: E402
from resnet_cifar.dataset import load_split  # noqa: E402
from resnet_cifar.device import resolve_device, resolve_precision  # noqa: E402
from resnet_cifar.errors import report_user_errors  # noqa: E402
from resnet_cifar.history import METRICS  # noqa: E402
from resnet_cifar.models import build_model  # noqa: E402
from resnet_cifar.summary import model_metrics, summary_table  # noqa: E402
from resnet_cifar.training import EpochResult, fit, seed_everything  # noqa: E402

SUBSETS = Path("data/subsets")
MODELS = Path("models")
LIVE_DIR = Path("metrics/train")
MODEL_METRICS = Path("metrics/model.json")


@report_user_errors
def main() -> None:
    params = load_params()
    generator = seed_everything(params.seed)
    device = resolve_device(params.train.device)
    precision = resolve_precision(params.train.precision, device)
    train_split, val_split = load_split(SUBSETS / "train.npz"), load_split(SUBSETS / "val.npz")
    classes = train_split.classes
    model = build_model(params.model.arch, num_classes=len(classes))
    write_json(MODEL_METRICS, model_metrics(model))
    write_text(MODELS / "summary.txt", summary_table(copy.deepcopy(model)))
    model = model.to(device, memory_format=torch.channels_last)
    train, val = DeviceSplit(train_split, device), DeviceSplit(val_split, device)
    print(f"training {params.model.arch} on {len(train)} images ({len(val)} validation) "
          f"for {params.train.epochs} epochs on {device} with {precision}")

    best = {"val_acc": -1.0, "epoch": 0}
    with Live(str(LIVE_DIR), report=None, dvcyaml=None, save_dvc_exp=False) as live:
        def on_epoch(r: EpochResult) -> None:
            live.step = r.epoch
            values = {"train/loss": r.train_loss, "train/acc": r.train_acc, "val/loss": r.val_loss,
                      "val/acc": r.val_acc, "lr": r.lr}
            for name in METRICS:
                live.log_metric(name, float(f"{values[name]:.6g}"))
            if r.val_acc > best["val_acc"]:
                best.update(val_acc=r.val_acc, epoch=r.epoch)
                save_checkpoint(MODELS / "best.pt", model, params.model.arch, classes, epoch=r.epoch,
                                val_acc=r.val_acc)
            print(f"epoch {r.epoch}: train loss {r.train_loss:.4f} acc {r.train_acc:.4f} | "
                  f"val loss {r.val_loss:.4f} acc {r.val_acc:.4f} | lr {r.lr:g} | {r.images_per_sec:.0f} img/s")
            live.next_step()

        start = time.perf_counter()
        history = fit(model, train, val, params.train, precision, generator, params.evaluate.batch_size, on_epoch)
        train_seconds = sum(r.seconds for r in history)
        live.summary["best"] = best
        live.summary["time"] = {
            "train_seconds": round(train_seconds, 2),
            "total_seconds": round(time.perf_counter() - start, 2),
            "images_per_sec": round(len(train) * len(history) / train_seconds, 1),
        }
        live.step = history[-1].epoch
    save_checkpoint(MODELS / "last.pt", model, params.model.arch, classes, epoch=history[-1].epoch,
                    val_acc=history[-1].val_acc)


if __name__ == "__main__":
    main()
