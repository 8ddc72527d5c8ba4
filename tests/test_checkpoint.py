"""Checkpoints load as weights only, and a checkpoint whose weights do not fit its recorded model is refused."""
import os

import pytest
import torch

from cifar_archive import CLASSES
from resnet_cifar.errors import UserError
from resnet_cifar.model.checkpoint import load_model, save_checkpoint
from resnet_cifar.model.resnet import build_model


@pytest.fixture(scope="module")
def resnet18():
    torch.manual_seed(0)
    return build_model("resnet18").eval()


def test_a_checkpoint_round_trips(tmp_path, resnet18):
    save_checkpoint(tmp_path / "best.pt", resnet18, "resnet18", tuple(CLASSES), epoch=3)
    model, meta = load_model(tmp_path / "best.pt")
    assert meta == {"arch": "resnet18", "classes": CLASSES, "image_size": 32, "epoch": 3}
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), resnet18(x))


def test_a_checkpoint_keeps_the_image_size_its_model_was_trained_at(tmp_path):
    small = build_model("resnet18", image_size=16).eval()
    save_checkpoint(tmp_path / "best.pt", small, "resnet18", tuple(CLASSES))
    model, _ = load_model(tmp_path / "best.pt")
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert model.image_size == 16 and torch.equal(model(x), small(x))


class TouchesAFile:
    """Unpickling this calls `os.system`: proof that loading ran code named by the file."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return os.system, (f"touch '{self.path}'",)


def test_a_checkpoint_that_names_code_is_refused_without_running_it(tmp_path, resnet18):
    marker = tmp_path / "code-ran"
    state = {"arch": "resnet18", "classes": CLASSES, "model": resnet18.state_dict(), "x": TouchesAFile(marker)}
    torch.save(state, tmp_path / "evil.pt")
    with pytest.raises(UserError, match=r"refusing to load checkpoint .*evil\.pt: it refers to code \(.*GLOBAL "
                                        r"posix\.system.*\); checkpoints are loaded as weights only"):
        load_model(tmp_path / "evil.pt")
    assert not marker.exists()


@pytest.mark.parametrize("arch, classes, message", [
    ("resnet34", CLASSES, r"says resnet34 with 10 classes, but its weights are for another model: \d+ missing"),
    ("resnet18", CLASSES[:5], r"says resnet18 with 5 classes.*2 wrongly shaped .*fc\.bias is \[10\], expected \[5\]"),
])
def test_weights_from_another_architecture_or_class_count_are_refused(tmp_path, resnet18, arch, classes, message):
    save_checkpoint(tmp_path / "best.pt", resnet18, arch, tuple(classes))
    with pytest.raises(UserError, match=message):
        load_model(tmp_path / "best.pt")


@pytest.mark.parametrize("content, message", [
    ({"weights": torch.zeros(3)}, "is not a checkpoint of this pipeline"),
    ({"arch": "resnet19", "classes": CLASSES, "model": {}}, "unknown architecture 'resnet19'"),
    (b"torn", r"cannot load checkpoint .*\(truncated or not a checkpoint\?\)"),
])
def test_files_that_are_not_checkpoints_give_a_clear_error(tmp_path, content, message):
    path = tmp_path / "best.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    with pytest.raises(UserError, match=message):
        load_model(path)


def test_a_missing_checkpoint_says_which_stage_makes_it(tmp_path):
    with pytest.raises(UserError, match=r"not found; run `dvc repro train`"):
        load_model(tmp_path / "best.pt")
