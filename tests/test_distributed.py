"""Data-parallel training: rank shares add up to the one-process batches, ranks stay identical, the train stage runs
with train.nproc=2 on CPU (gloo), and a failing rank stops the run."""
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from cifar_archive import write_archive
from committed import committed_params_with
from ddp_worker import make_trainer
from project import make_project, ran_stages, run, set_params
from resnet_cifar.config import load_params
from resnet_cifar.data.batches import DeviceSplit, normalize, train_batches
from resnet_cifar.data.dataset import Split
from resnet_cifar.engine.distributed import World, process_group
from resnet_cifar.errors import UserError

WORKER = Path(__file__).parent / "ddp_worker.py"


def numbered_split(n: int) -> DeviceSplit:
    """Images whose pixels hold their own index, so every crop still says which image it came from."""
    images = np.broadcast_to((np.arange(n) % 256).astype(np.uint8)[:, None, None, None], (n, 3, 32, 32)).copy()
    return DeviceSplit(Split(images, np.arange(n), np.arange(n), tuple("abcdefghij")), torch.device("cpu"))


@pytest.mark.parametrize("world_size", [2, 3])
def test_rank_shares_together_are_exactly_the_one_process_batches(world_size):
    data = numbered_split(37)  # batches of 16, 16, 5: the last one splits unevenly
    whole = list(train_batches(data, 16, torch.Generator().manual_seed(7)))
    shares = [list(train_batches(data, 16, torch.Generator().manual_seed(7), rank, world_size))
              for rank in range(world_size)]
    assert all(len(s) == len(whole) == 3 for s in shares)
    for step, batch in enumerate(whole):
        for rank in range(world_size):
            share = shares[rank][step]
            assert share.global_size == len(batch.labels)
            assert torch.equal(share.labels, batch.labels[rank::world_size])
            assert torch.equal(share.images, batch.images[rank::world_size])  # same crops and flips too
    assert sorted(torch.cat([b.labels for b in whole]).tolist()) == list(range(37))


def test_validation_shards_partition_the_split():
    data = numbered_split(10)
    for world_size in (1, 3, 12):
        shards = [data.shard(rank, world_size) for rank in range(world_size)]
        assert torch.equal(torch.cat([s.labels for s in shards]), data.labels)
        assert torch.equal(torch.cat([s.images for s in shards]), data.images)
        assert max(map(len, shards)) - min(map(len, shards)) <= 1


@pytest.mark.parametrize("nproc, message", [(0, "train.nproc must be in [1, train.batch_size]"),
                                            (9, "train.nproc must be in [1, train.batch_size]")])
def test_nproc_is_validated(tmp_path, nproc, message):
    (tmp_path / "params.yaml").write_text(committed_params_with(f"train: {{batch_size: 8, nproc: {nproc}}}"))
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_params(tmp_path / "params.yaml")


def run_worker(out: Path, *args: str) -> subprocess.CompletedProcess:
    out.mkdir(parents=True, exist_ok=True)
    return subprocess.run([sys.executable, str(WORKER), str(out), *args], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.e2e
def test_two_processes_stay_identical_and_match_one_process(tmp_path):
    result = run_worker(tmp_path, "--nproc", "2")
    assert result.returncode == 0, result.stderr
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    for weights in ("weights", "evaluated"):  # the trained and the averaged weights
        for key, value in ranks[0][weights].items():
            assert torch.equal(value, ranks[1][weights][key]), key
    untimed = [[{k: v for k, v in r.items() if k not in ("seconds", "images_per_sec")} for r in rank["history"]]
               for rank in ranks]
    assert untimed[0] == untimed[1]  # every rank reports the same, reduced metrics

    single = make_trainer(World(), nproc=1)
    for _ in range(2):
        single.train_epoch()
    # Without BatchNorm, two ranks with their shares compute the one-process update, up to float summation order.
    for weights, model in (("weights", single.model), ("evaluated", single.evaluated)):
        for key, value in model.state_dict().items():
            torch.testing.assert_close(ranks[0][weights][key], value, rtol=1e-4, atol=1e-6)
    for mine, theirs in zip(ranks[0]["history"], single.history, strict=True):
        assert mine["val_acc"] == theirs.val_acc
        assert mine["val_loss"] == pytest.approx(theirs.val_loss, rel=1e-5)
        assert mine["train_loss"] == pytest.approx(theirs.train_loss, rel=1e-5)


@pytest.mark.e2e
def test_precise_bn_gives_every_rank_the_statistics_of_the_whole_batches(tmp_path):
    result = run_worker(tmp_path, "--nproc", "2", "--precise-bn")
    assert result.returncode == 0, result.stderr
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    for key, value in ranks[0].items():
        assert torch.equal(value, ranks[1][key]), key  # averaged over ranks, not each rank's own share
    # Each rank took every other image of the first two batches of 16; the ranks' averages are averaged.
    single = make_trainer(World(), nproc=1, batchnorm=True)  # the same initial weights and data
    conv, images = single.model[0].double(), normalize(single.train_data.images[:32]).double()
    shares = [conv(images[start:start + 16][rank::2]).transpose(0, 1).reshape(8, -1)
              for start in (0, 16) for rank in (0, 1)]
    expected_mean = torch.stack([share.mean(1) for share in shares]).mean(0)
    expected_var = torch.stack([share.var(1) for share in shares]).mean(0)  # unbiased, as BatchNorm stores it
    torch.testing.assert_close(ranks[0]["1.running_mean"].double(), expected_mean, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(ranks[0]["1.running_var"].double(), expected_var, rtol=1e-4, atol=1e-6)


@pytest.mark.e2e
def test_a_failing_rank_stops_every_rank_with_its_error(tmp_path):
    # A rank left waiting would block in its next collective until the process group's timeout; run_worker's
    # subprocess timeout turns that hang into a failure.
    result = run_worker(tmp_path, "--nproc", "2", "--fail-rank", "1")
    assert result.returncode != 0
    assert "injected failure on rank 1" in result.stderr
    assert "training failed in" in result.stderr and "rank 1 (exit status 1)" in result.stderr
    assert not list(tmp_path.glob("rank*.pt"))  # rank 0 did not finish either: it was stopped, not left waiting


def test_a_torchrun_process_count_other_than_nproc_is_refused(monkeypatch):
    for name, value in {"RANK": "0", "WORLD_SIZE": "4", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(UserError, match="train.nproc is 1 but torchrun started 2 processes on this node"):
        with process_group(1, "cpu"):
            pass


@pytest.fixture(scope="module")
def one_then_two_processes(tmp_path_factory, http_server):
    """The same tiny project trained by `dvc repro train` with train.nproc=1, then with train.nproc=2."""
    folder, base_url = http_server
    md5 = write_archive(folder / "cifar-ddp.tar.gz", per_batch=30, test=16, seed=4)
    project = make_project(tmp_path_factory.mktemp("ddp") / "p")
    set_params(project, data={"url": f"{base_url}/cifar-ddp.tar.gz", "md5": md5, "train_size": 64, "val_size": 64,
                              "test_size": 16},
               # 12x12: each rank's BatchNorm still normalises 2x2 maps of its 8 images in the last stage (at 8x8 its
               # 1x1 maps give 8 values per channel, and the two runs part further than the bound below allows).
               model={"zero_init_residual": True, "image_size": 12},
               train={"epochs": 2, "batch_size": 16, "lr": 0.01},
               evaluate={"batch_size": 64}, robustness={"images": 16})
    run(project, "git", "add", "-A")
    run(project, "git", "commit", "-qm", "tiny")
    run(project, "dvc", "repro", "train")
    one = json.loads((project / "metrics/train/metrics.json").read_text())
    set_params(project, train={"nproc": 2})
    two = run(project, "dvc", "repro", "train")
    return project, one, two.stdout


@pytest.mark.e2e
def test_train_stage_runs_in_two_processes_and_writes_once(one_then_two_processes):
    project, _, output = one_then_two_processes
    assert ran_stages(output) == ["train"]
    assert "on cpu in 2 processes" in output
    assert [line.split(":")[0] for line in output.splitlines() if line.startswith("epoch ")] == ["epoch 1", "epoch 2"]
    for name in ("train/loss", "train/acc", "val/loss", "val/acc", "lr"):
        table = pd.read_csv(project / f"metrics/train/plots/metrics/{name}.tsv", sep="\t")
        assert list(table["step"]) == [1, 2], name
    metrics = json.loads((project / "metrics/train/metrics.json").read_text())
    best = torch.load(project / "models/best.pt", weights_only=True)
    assert best["val_acc"] == pytest.approx(metrics["best"]["val_acc"], abs=1e-6)
    assert metrics["run"]["processes"] == best["run"]["processes"] == 2  # the run says what trained it
    assert not (project / ".resume/train.pt").exists()
    assert run(project, "dvc", "status", "train").stdout.strip() == "Data and pipelines are up to date."


@pytest.mark.e2e
def test_two_process_validation_accuracy_is_within_noise_of_one_process(one_then_two_processes):
    _, one, _ = one_then_two_processes
    two = json.loads((one_then_two_processes[0] / "metrics/train/metrics.json").read_text())
    # Both learn (chance is 0.1). On CPU BatchNorm sees each rank's half batch, so from the same start the two runs
    # take different paths: two draws of what the recipe reaches, each a binomial accuracy over the 64 validation
    # images, whose difference stays within three standard deviations of a difference of two such draws.
    a, b = one["val"]["acc"], two["val"]["acc"]
    assert a > 0.5 and b > 0.5
    assert abs(b - a) <= 3 * math.sqrt((a * (1 - a) + b * (1 - b)) / 64), (a, b)


def alive(pid: int) -> bool:
    """Running, not a zombie (a dead orphan may wait unreaped for a while)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


@pytest.mark.e2e
def test_killing_the_launcher_with_sigkill_ends_every_rank(tmp_path):
    launcher = subprocess.Popen([sys.executable, str(WORKER), str(tmp_path), "--nproc", "2", "--idle"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    pids: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while len(pid_files := list(tmp_path.glob("pid*"))) < 2 or not all(p.read_text() for p in pid_files):
            assert launcher.poll() is None and time.monotonic() < deadline, "the ranks did not start"
            time.sleep(0.1)
        pids = [int(p.read_text()) for p in pid_files]
        os.killpg(launcher.pid, signal.SIGKILL)  # as `kill -9` of dvc would: torchrun gets no chance to clean up
        launcher.wait()
        deadline = time.monotonic() + 10
        while any(map(alive, pids)):
            assert time.monotonic() < deadline, "training processes outlived their launcher"
            time.sleep(0.1)
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
        for pid in filter(alive, pids):  # only if the test failed: each rank leads a session of its own
            os.killpg(pid, signal.SIGKILL)
