"""Stage `train`: train model.arch on the train subset, keep the best (by validation accuracy) and last models.

Per-epoch metrics go to metrics/train through DVCLive; the model summary to metrics/model.json and
models/summary.txt. After each epoch the whole training state is saved to .resume/train.pt, so a killed
`dvc repro` continues from the last completed epoch with exactly the same result; the file is removed on success.

With train.nproc > 1 the script launches itself again under torchrun, as that many data-parallel processes; only
rank 0 writes files.
"""
import contextlib
import copy
import sys
from pathlib import Path

import torch

from resnet_cifar.atomic import write_json, write_text
from resnet_cifar.config import Params, load_params
from resnet_cifar.data.batches import DeviceSplit
from resnet_cifar.data.dataset import load_split
from resnet_cifar.engine.device import resolve_precision
from resnet_cifar.engine.distributed import World, launch, process_group, under_launcher
from resnet_cifar.engine.live import METRICS, AtomicLive
from resnet_cifar.engine.resume import load_resume_state, save_resume_state, training_fingerprint
from resnet_cifar.engine.trainer import EpochResult, Trainer, seed_everything
from resnet_cifar.errors import report_user_errors
from resnet_cifar.model.checkpoint import save_checkpoint
from resnet_cifar.model.resnet import model_from_params
from resnet_cifar.model.summary import model_metrics, summary_table

SUBSETS = Path("data/subsets")
MODELS = Path("models")
LIVE_DIR = Path("metrics/train")
MODEL_METRICS = Path("metrics/model.json")
RESUME = Path(".resume/train.pt")


def log_epoch(live: AtomicLive | None, r: EpochResult) -> None:
    if live is None:  # not rank 0
        return
    live.step = r.epoch
    values = {"train/loss": r.train_loss, "train/acc": r.train_acc, "val/loss": r.val_loss,
              "val/acc": r.val_acc, "lr": r.lr}
    for name in METRICS:
        live.log_metric(name, float(f"{values[name]:.6g}"))
    live.next_step()
    print(f"epoch {r.epoch}: train loss {r.train_loss:.4f} acc {r.train_acc:.4f} | "
          f"val loss {r.val_loss:.4f} acc {r.val_acc:.4f} | lr {r.lr:.4g} | {r.images_per_sec:.0f} img/s")


@report_user_errors
def main() -> None:
    params = load_params()
    if params.train.nproc > 1 and not under_launcher():
        sys.exit(launch(__spec__.name, params.train.nproc, module=True))  # as dvc.yaml runs it
    with process_group(params.train.nproc, params.train.device) as (world, device):
        train(params, world, device)


def train(params: Params, world: World, device: torch.device) -> None:
    data_files = [SUBSETS / "train.npz", SUBSETS / "val.npz"]
    # Loaded before they are hashed: load_split turns a missing or unreadable subset into a one-line error.
    train_split, val_split = (load_split(path) for path in data_files)
    fingerprint = training_fingerprint(params, data_files, [Path(__file__)])
    generator = seed_everything(params.seed)
    precision = resolve_precision(params.train.precision, device)
    classes = train_split.classes
    model = model_from_params(params.model, len(classes))
    if world.is_main:
        write_json(MODEL_METRICS, model_metrics(model))
        write_text(MODELS / "summary.txt", summary_table(copy.deepcopy(model)))
    trainer = Trainer(model, DeviceSplit(train_split, device), DeviceSplit(val_split, device), params.train,
                      precision, generator, params.evaluate.batch_size, world)
    if (state := world.from_main(lambda: load_resume_state(RESUME, fingerprint))) is not None:
        trainer.load_state_dict(state)
        if world.is_main:
            print(f"resuming after epoch {trainer.epoch} from {RESUME}")
    if world.is_main:
        processes = f" in {world.size} processes" if world.size > 1 else ""
        print(f"training {params.model.arch} on {len(train_split)} images ({len(val_split)} validation) "
              f"for {params.train.epochs} epochs on {device.type}{processes} with {precision}")

    live = AtomicLive(str(LIVE_DIR), report=None, dvcyaml=None, save_dvc_exp=False) if world.is_main else None
    with live or contextlib.nullcontext():
        for r in trainer.history:  # epochs done before an interruption: DVC removed their logs
            log_epoch(live, r)
        while trainer.epoch < params.train.epochs:
            r = trainer.train_epoch()
            if world.is_main:
                save_resume_state(RESUME, trainer.state_dict(), fingerprint)
            log_epoch(live, r)
        world.check_identical(trainer.model)
        if live is None:
            return
        train_seconds = sum(r.seconds for r in trainer.history)
        # The run's outcome before the last epoch's numbers: `dvc exp show` orders its columns as the file does.
        live.summary = {
            "best": {"val_acc": trainer.best_val_acc, "epoch": trainer.best_epoch},
            "time": {"train_seconds": round(train_seconds, 2),
                     "images_per_sec": round(len(train_split) * trainer.epoch / train_seconds, 1)},
            **live.summary,
        }
        live.step = trainer.epoch

    last = trainer.history[-1]
    save_checkpoint(MODELS / "last.pt", trainer.model, params.model.arch, classes, epoch=last.epoch,
                    val_acc=last.val_acc)
    trainer.model.load_state_dict(trainer.best_state)
    save_checkpoint(MODELS / "best.pt", trainer.model, params.model.arch, classes, epoch=trainer.best_epoch,
                    val_acc=trainer.best_val_acc)
    RESUME.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
