"""A `dvc repro` killed during `train` resumes from the last completed epoch with exactly the same result."""
import json
import signal
from pathlib import Path

import pandas as pd
import pytest
import torch

from cifar_archive import write_archive
from interrupt import BLOCK_AFTER_FIRST_SAVE, HookedRepro
from project import make_project, ran_stages, run, set_params

pytestmark = pytest.mark.e2e

EPOCHS = 4
# What the comparison reads comes from train and evaluate: each repro stops there, as the later stages (corrupt,
# robustness, plot) have nothing to resume.
TARGET = "evaluate"


def tiny_project(path, archive_url, md5, **train):
    project = make_project(path)
    set_params(project, data={"url": archive_url, "md5": md5, "train_size": 48, "val_size": 16, "test_size": 16},
               train={"epochs": EPOCHS, "batch_size": 16, "lr": 0.02, **train}, evaluate={"batch_size": 16},
               robustness={"images": 16, "corruptions": ["gaussian_noise"], "severities": [3]})
    run(project, "git", "add", "-A")
    run(project, "git", "commit", "-qm", "tiny")
    return project


def kill_during_train(project: Path, sig) -> int:
    """Start `dvc repro`, send `sig` to its whole process group once the first epoch is saved; return the number
    of epochs the resume state holds."""
    repro = HookedRepro(project, TARGET, BLOCK_AFTER_FIRST_SAVE)
    try:
        repro.wait_until_arrived()
    finally:
        repro.kill(sig)
    epochs_done = len(torch.load(project / ".resume/train.pt", weights_only=True)["trainer"]["history"])
    assert epochs_done == 1, f"the kill came after {epochs_done} saved epochs, not exactly one"
    return epochs_done


def outcome(project) -> dict:
    states = {name: torch.load(project / f"models/{name}.pt", weights_only=True) for name in ("best", "last")}
    curves = {name: pd.read_csv(project / f"metrics/train/plots/metrics/{name}.tsv", sep="\t")[["step", column]]
              for name, column in (("train/loss", "loss"), ("val/acc", "acc"), ("lr", "lr"))}
    return {"states": states, "curves": curves,
            "evaluate": json.loads((project / "metrics/evaluate.json").read_text())}


def assert_same_outcome(a: dict, b: dict) -> None:
    for name in ("best", "last"):
        sa, sb = a["states"][name], b["states"][name]
        assert sa["epoch"] == sb["epoch"] and sa["val_acc"] == sb["val_acc"]
        for key in sa["model"]:
            assert torch.equal(sa["model"][key], sb["model"][key]), f"{name}.pt {key}"
    for name in a["curves"]:
        pd.testing.assert_frame_equal(a["curves"][name], b["curves"][name])
    assert a["evaluate"] == b["evaluate"]


@pytest.fixture(scope="module")
def served_archive(http_server):
    folder, base_url = http_server
    md5 = write_archive(folder / "cifar-resume.tar.gz", per_batch=20, test=20, seed=3)
    return f"{base_url}/cifar-resume.tar.gz", md5


@pytest.fixture(scope="module")
def reference(tmp_path_factory, served_archive):
    project = tiny_project(tmp_path_factory.mktemp("straight") / "p", *served_archive)
    run(project, "dvc", "repro", TARGET)
    assert not (project / ".resume").exists() or not any((project / ".resume").iterdir())
    return outcome(project)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_killed_repro_resumes_to_the_identical_result(tmp_path, served_archive, reference, sig):
    project = tiny_project(tmp_path / "p", *served_archive)
    epochs_done = kill_during_train(project, sig)
    again = run(project, "dvc", "repro", TARGET)
    assert f"resuming after epoch {epochs_done} " in again.stdout
    assert ran_stages(again.stdout)[0] in ("subset", "train")
    assert_same_outcome(reference, outcome(project))
    assert not (project / ".resume/train.pt").exists()


def test_resume_state_from_other_params_is_never_used(tmp_path, served_archive, reference):
    project = tiny_project(tmp_path / "p", *served_archive)
    kill_during_train(project, signal.SIGKILL)
    set_params(project, train={"lr": 0.03})
    again = run(project, "dvc", "repro", TARGET)
    assert "resuming" not in again.stdout and "ignoring .resume/train.pt" in again.stdout
    # The schedule restarted at the new peak lr, 0.03 against the reference run's 0.02: every lr is 1.5 times its.
    lr = pd.read_csv(project / "metrics/train/plots/metrics/lr.tsv", sep="\t")["lr"]
    assert list(lr) == pytest.approx([1.5 * x for x in reference["curves"]["lr"]["lr"]], rel=1e-4)
