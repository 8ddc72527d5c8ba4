"""The one training path (engine/run.py): what a run writes, the provenance it records, and exact resuming."""
import contextlib
import dataclasses
import json

import pytest
import torch

from resnet_cifar.analysis.history import read_progress
from resnet_cifar.engine.distributed import World
from resnet_cifar.engine.epoch_feed import FEED_VARIABLE, EpochReport, read_epochs
from resnet_cifar.engine.provenance import cpu_name, run_provenance, short_device_name
from resnet_cifar.engine.resume import Resume
from resnet_cifar.engine.run import RunFiles, RunWriter, TrainedRun, build_trainer, run_training
from resnet_cifar.engine.trainer import EpochResult
from resnet_cifar.model.checkpoint import load_model, read_checkpoint
from tiny import TP, tiny_params, tiny_split

CPU = torch.device("cpu")


@pytest.mark.parametrize("name, short", [
    ("NVIDIA H200", "H200"),
    ("NVIDIA GeForce RTX 4090", "RTX 4090"),
    ("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "Xeon Platinum 8375C"),
    ("AMD EPYC 7B13 64-Core Processor", "EPYC 7B13"),
    ("Apple M2", "Apple M2"),
    ("arm64", "arm64"),
])
def test_short_device_names_keep_the_part_and_drop_the_maker(name, short):
    assert short_device_name(name) == short


def test_a_cpu_run_records_the_cpu_and_no_cuda_versions():
    provenance = run_provenance(CPU, "fp32", World(rank=0, size=2, local_rank=0, local_size=2))
    assert provenance == {"device": "cpu", "device_name": cpu_name(), "precision": "fp32", "processes": 2,
                          "torch": str(torch.__version__), "cuda": None, "cudnn": None}
    assert type(provenance["torch"]) is str  # torch's TorchVersion is a subclass that weights-only loading refuses
    assert cpu_name() and "\n" not in cpu_name()


class Stop(Exception):
    pass


def params(epochs: int = 3):
    small = tiny_params(dataclasses.replace(TP, epochs=epochs))
    return dataclasses.replace(small, model=dataclasses.replace(small.model, image_size=8))


def run(files: RunFiles, on_epoch=None):
    return run_training(params(), tiny_split(40, 1), tiny_split(20, 2), files, device=CPU, on_epoch=on_epoch)


def summary(files: RunFiles) -> dict:
    return json.loads((files.live / "metrics.json").read_text())


@pytest.mark.parametrize("rank", [0, 1])
def test_rank_0_writes_the_run_and_every_other_rank_nothing(tmp_path, capsys, monkeypatch, rank):
    monkeypatch.setenv(FEED_VARIABLE, str(tmp_path / "feed.jsonl"))  # a search watching the run
    world = World(rank=rank, size=2, local_rank=rank, local_size=2)
    files = RunFiles.under(tmp_path)
    trainer = build_trainer(params(), tiny_split(40, 1), tiny_split(20, 2), CPU)
    result = EpochResult(1, 0.1, 2.0, 0.5, 2.1, 0.4, seconds=1.0, images_per_sec=40.0,
                         progress=((1.0, 2.0, 0.5, 0.1),))
    trainer.history.append(result)
    writer = RunWriter(files, "resnet18", tuple("abcdefghij"), {}, world)
    resume = Resume(files.resume, "fp", {"device": "cpu", "precision": "fp32"}, world=world)
    writer.describe_model(trainer.model)
    writer.say("a line")
    with writer.epoch_log():
        writer.log_epoch(result, 3)
        resume.save(trainer.state_dict())
        writer.write_progress(trainer.history)
        writer.write_summary(TrainedRun(trainer, {}), 40)
    writer.save_checkpoint("best", trainer.model, 1, 0.4)
    written = {path for path in tmp_path.rglob("*") if path.is_file()}
    expected = {files.model_metrics, files.summary, files.progress, files.live / "metrics.json", files.resume,
                files.best, tmp_path / "feed.jsonl"}
    out = capsys.readouterr().out
    if rank == 0:
        assert written >= expected and out.startswith("a line\nepoch 1: ")
        assert read_epochs(tmp_path / "feed.jsonl") == [EpochReport(1, 3, 0.4)]
    else:
        assert written == set() and out == ""
    resume.finish()
    assert not files.resume.exists()


@pytest.mark.e2e
def test_a_run_writes_its_files_with_provenance_and_an_interrupted_one_resumes_to_the_same_result(tmp_path):
    straight_files = RunFiles.under(tmp_path / "straight")
    straight = run(straight_files)
    expected = run_provenance(CPU, straight.trainer.precision, World())
    for path in (straight_files.best, straight_files.last, straight_files.summary):
        assert path.is_file(), path
    assert json.loads(straight_files.model_metrics.read_text())["params"] == sum(
        p.numel() for p in straight.trainer.model.parameters())
    assert not straight_files.resume.exists()  # removed on success
    curve = read_progress(straight_files.live)  # what the plot stage draws, a point per epoch end at least
    assert curve.columns.tolist() == ["epoch", "loss", "acc", "lr"]
    assert curve["epoch"].tolist() == [p[0] for r in straight.trainer.history for p in r.progress]
    assert {1, 2, 3} <= set(curve["epoch"])
    assert summary(straight_files)["run"] == expected
    best, last = (read_checkpoint(path) for path in (straight_files.best, straight_files.last))
    assert best["run"] == last["run"] == expected and last["epoch"] == 3
    model, meta = load_model(straight_files.best)
    assert meta["epoch"] == straight.trainer.best_epoch
    for key, value in model.state_dict().items():  # the run's model holds the best epoch's weights
        assert torch.equal(value, straight.trainer.model.state_dict()[key]), key

    files = RunFiles.under(tmp_path / "interrupted")

    def stop_after_first(trainer, result):
        raise Stop

    with contextlib.suppress(Stop):
        run(files, stop_after_first)
    assert files.resume.exists() and not files.last.exists()
    trained = []
    resumed = run(files, lambda trainer, result: trained.append(result.epoch))
    assert trained == [2, 3]  # epoch 1 came from the resume state, not from training again
    assert [r.val_acc for r in resumed.trainer.history] == [r.val_acc for r in straight.trainer.history]
    assert files.progress.read_text() == straight_files.progress.read_text()  # epoch 1's curve came from the state
    for name in ("best", "last"):
        a, b = (read_checkpoint(getattr(f, name)) for f in (straight_files, files))
        assert a.keys() == b.keys() and all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    # Everything but the wall time is what two identical runs share.
    without_time = [{k: v for k, v in summary(f).items() if k != "time"} for f in (straight_files, files)]
    assert without_time[0] == without_time[1]
