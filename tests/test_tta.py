"""Unit tests of test-time augmentation: the views of each `evaluate.tta` mode, the images each view shows the
model, and the averaged log-probabilities."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resnet_cifar.config import TTA_MODES
from resnet_cifar.data.batches import DeviceSplit, normalize
from resnet_cifar.data.dataset import Split
from resnet_cifar.engine.inference import TTA_VIEWS, View, predict_logits, tta_log_probs, view_images


class RecordingModel(nn.Module):
    """A fixed random linear map of the whole image to 10 logits, which keeps every batch it is given."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.weight = nn.Parameter(torch.randn(3 * 32 * 32, 10, generator=generator) / 200)
        self.inputs: list[Tensor] = []

    def forward(self, x: Tensor) -> Tensor:
        self.inputs.append(x.clone())
        return x.flatten(1) @ self.weight


def hand_made_views(images: Tensor) -> list[Tensor]:
    """flip_translate's six views built another way: torch.flip, and crops of torch's own reflect padding."""
    views = []
    for image in (images, torch.flip(images, dims=[3])):
        padded = F.pad(image.float(), (1, 1, 1, 1), mode="reflect").to(torch.uint8)
        # padded[k] is image[k - 1]: content moved up-left is padded[2:34], moved down-right padded[0:32].
        views += [image, padded[:, :, 2:34, 2:34], padded[:, :, 0:32, 0:32]]
    return views


@pytest.fixture
def data(device) -> DeviceSplit:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(6, 3, 32, 32), dtype=np.uint8)
    return DeviceSplit(Split(images, rng.integers(0, 10, size=6), np.arange(6), tuple("abcdefghij")), device)


def test_each_mode_has_its_documented_views():
    assert tuple(TTA_VIEWS) == TTA_MODES  # params validation accepts exactly the modes that have views
    assert [len(TTA_VIEWS[mode]) for mode in TTA_MODES] == [1, 2, 6]
    plain, mirror = View(mirror=False, shift=(0, 0)), View(mirror=True, shift=(0, 0))
    assert TTA_VIEWS["none"] == (plain,) and TTA_VIEWS["flip"] == (plain, mirror)
    assert TTA_VIEWS["flip_translate"] == tuple(View(m, s) for m in (False, True) for s in [(0, 0), (-1, -1), (1, 1)])


def test_views_move_the_content_and_reflect_into_the_vacated_edge():
    image = torch.arange(9, dtype=torch.uint8).view(1, 1, 3, 3)  # rows 0 1 2 / 3 4 5 / 6 7 8
    expected = {
        View(False, (1, 1)): [[4, 3, 4], [1, 0, 1], [4, 3, 4]],  # down-right: row 0 and column 0 reflect 1
        View(False, (-1, -1)): [[4, 5, 4], [7, 8, 7], [4, 5, 4]],  # up-left: the last row and column reflect
        View(True, (0, 0)): [[2, 1, 0], [5, 4, 3], [8, 7, 6]],
        View(True, (1, 1)): [[4, 5, 4], [1, 2, 1], [4, 5, 4]],  # mirrored first, then moved
        View(False, (1, 0)): [[3, 4, 5], [0, 1, 2], [3, 4, 5]],
    }
    for view, rows in expected.items():
        seen = view_images(image, view)
        assert seen.dtype == torch.uint8 and seen[0, 0].tolist() == rows, view


def test_the_model_sees_each_view_in_batches_before_any_downsampling(data):
    model = RecordingModel().to(data.device)
    tta_log_probs(model, data, batch_size=4, precision="fp32", mode="flip_translate")
    assert [len(x) for x in model.inputs] == [4, 2] * 6  # one view at a time, in batches of 4
    assert all(x.shape[2:] == (32, 32) for x in model.inputs)  # full size: a model's downsampling comes after
    seen = [torch.cat(model.inputs[i:i + 2]) for i in range(0, 12, 2)]
    for got, wanted in zip(seen, hand_made_views(data.images), strict=True):
        assert torch.equal(got, normalize(wanted))


@pytest.mark.parametrize("mode", TTA_MODES)
def test_tta_log_probs_are_the_log_of_the_mean_of_the_views_softmax(data, mode):
    model = RecordingModel().to(data.device)
    views = hand_made_views(data.images)
    chosen = {"none": views[:1], "flip": [views[0], views[3]], "flip_translate": views}[mode]
    with torch.no_grad():
        probs = [torch.softmax(model(normalize(v)).double(), 1) for v in chosen]
    averaged = tta_log_probs(model, data, batch_size=4, precision="fp32", mode=mode)
    assert averaged.dtype == torch.float64
    assert torch.allclose(averaged.exp(), torch.stack(probs).mean(0), atol=1e-6)
    assert torch.allclose(averaged.exp().sum(1), torch.ones(6, dtype=torch.float64, device=data.device))
    if mode == "none":
        plain = torch.log_softmax(predict_logits(model, data, batch_size=4).double(), 1)
        assert torch.allclose(averaged, plain, atol=1e-12)


def test_tta_log_probs_are_finite_even_for_classes_with_vanishing_probability(data):
    model = RecordingModel().to(data.device)
    with torch.no_grad():
        model.weight.mul_(1e4)  # logits thousands apart: the log of a mean of softmaxes would be log(0) = -inf
    averaged = tta_log_probs(model, data, batch_size=4, precision="fp32", mode="flip_translate")
    assert torch.isfinite(averaged).all() and averaged.min() < -100


def test_given_the_plain_logits_tta_skips_the_plain_pass_and_averages_the_same(data):
    model = RecordingModel().to(data.device)
    full = tta_log_probs(model, data, batch_size=4, precision="fp32", mode="flip_translate")
    logits = predict_logits(model, data, batch_size=4)
    model.inputs.clear()
    reused = tta_log_probs(model, data, batch_size=4, precision="fp32", mode="flip_translate", plain_logits=logits)
    assert len(model.inputs) == 2 * 5  # five views in two batches each: the plain view is not computed again
    assert torch.allclose(reused, full, atol=1e-12)
