"""What a teammate reuses instead of computing again, end to end with real `git` and `dvc`: results that someone
already computed, through DVC's run-cache, and the trained model by name, through `dvc artifacts get`."""
import numpy as np
import pytest
import yaml
from PIL import Image

from project import ran_stages, run
from sharing import clone, output_files

pytestmark = pytest.mark.e2e


def test_teammate_exp_run_restores_from_the_run_cache_instead_of_training(own_origin):
    origin = own_origin
    run(origin, "dvc", "push")  # the baseline's results, as the team keeps them
    mine = clone(origin, "teammate-a")
    first = run(mine, "dvc", "exp", "run", "--pull", "-S", "train.lr=0.05").stdout
    assert {"train", "evaluate"} <= set(ran_stages(first))
    run(mine, "dvc", "push", "--run-cache")

    theirs = clone(origin, "teammate-b")  # a fresh clone of the same commit
    run(theirs, "dvc", "pull", "--run-cache")
    again = run(theirs, "dvc", "exp", "run", "--pull", "-S", "train.lr=0.05").stdout
    assert ran_stages(again) == []
    assert "Stage 'train' is cached - skipping run" in again
    assert "epoch 1:" not in again  # no training line
    assert output_files(theirs) == output_files(mine)  # every output, metrics and model included


def test_model_artifact_is_fetched_by_version_from_another_directory(own_origin, tmp_path):
    origin = own_origin
    artifact = yaml.safe_load((origin / "dvc.yaml").read_text())["artifacts"]["cifar10-resnet"]
    assert artifact["path"] == "models/best.pt" and artifact["type"] == "model"
    run(origin, "dvc", "exp", "run", "-n", "lr-005", "-S", "train.lr=0.05")
    trained = (origin / "models/best.pt").read_bytes()
    run(origin, "dvc", "exp", "branch", "lr-005", "lr-005")
    run(origin, "git", "tag", "-a", "cifar10-resnet@v1.0.0", "-m", "lr 0.05", "lr-005")
    run(origin, "dvc", "push")
    run(origin, "git", "push", "-q", "origin", "lr-005", "cifar10-resnet@v1.0.0")

    downstream = tmp_path / "downstream"
    downstream.mkdir()
    got = run(downstream, "dvc", "artifacts", "get", str(origin.parent / "origin.git"), "cifar10-resnet",
              "--rev", "v1.0.0", "-o", "model.pt")
    assert "Downloaded 1 file(s)" in got.stdout
    assert (downstream / "model.pt").read_bytes() == trained
    image = downstream / "image.png"
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(image)
    predicted = run(downstream, "resnet-cifar-predict", "model.pt", "image.png").stdout
    assert "image.png" in predicted
