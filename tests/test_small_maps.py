"""The GEMM path for convolutions with tiny output maps computes what nn.Conv2d computes, where it is meant to.
The path is forced on in each test, since its default depends on the CPU."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from resnet_cifar.model.resnet import build_model
from resnet_cifar.model.small_maps import SmallMapConv2d, pays_on, small_map_gemm, use_small_map_gemm


def small_map_conv(cin: int, cout: int, kernel: int, stride: int, bias: bool, groups: int = 1) -> SmallMapConv2d:
    torch.manual_seed(0)
    conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=bias, groups=groups).double()
    use_small_map_gemm(conv)
    return conv


# (input side, kernel, stride): the 3x3 convolutions of a last stage on 2x2 and 1x1 maps, its strided 3x3 and 1x1
# (shortcut) convolutions from a 3x3 map, and a strided 3x3 from 2x2 to 1x1.
SHAPES = [(2, 3, 1), (1, 3, 1), (3, 3, 2), (3, 1, 2), (2, 3, 2)]


@pytest.fixture(autouse=True)
def gemm_on():
    with small_map_gemm(True):
        yield


def test_the_path_is_on_by_default_only_where_it_was_measured_to_pay():
    assert pays_on("AVX2")
    assert not pays_on("AVX512") and not pays_on("DEFAULT")


@pytest.mark.parametrize(("side", "kernel", "stride"), SHAPES)
@pytest.mark.parametrize("bias", [False, True])
def test_values_and_gradients_are_those_of_conv2d(side, kernel, stride, bias):
    conv = small_map_conv(6, 10, kernel, stride, bias)
    x = torch.randn(5, 6, side, side, dtype=torch.float64, requires_grad=True)
    assert conv.takes_gemm(x)
    out = conv(x)
    reference = F.conv2d(x, conv.weight, conv.bias, stride=stride, padding=kernel // 2)
    assert out.shape == reference.shape
    torch.testing.assert_close(out, reference, rtol=1e-12, atol=1e-12)
    upstream = torch.randn_like(reference)
    params = [x, conv.weight] + ([conv.bias] if bias else [])
    ours = torch.autograd.grad(out, params, upstream)
    theirs = torch.autograd.grad(reference, params, upstream)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_a_channels_last_input_gives_a_channels_last_output():
    conv = small_map_conv(6, 10, 3, 1, False).to(memory_format=torch.channels_last)
    x = torch.randn(4, 6, 2, 2, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    out = conv(x)
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, F.conv2d(x, conv.weight, padding=1), rtol=1e-12, atol=1e-12)


def test_larger_maps_autocast_grouped_convolutions_and_the_switch_keep_conv2d():
    conv = small_map_conv(6, 10, 3, 1, False)
    assert not conv.takes_gemm(torch.zeros(1, 6, 3, 3, dtype=torch.float64))  # a 3x3 output: oneDNN is faster
    tiny = torch.zeros(1, 6, 2, 2, dtype=torch.float64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not conv.takes_gemm(tiny)
    with small_map_gemm(False):
        assert not conv.takes_gemm(tiny)
    assert conv.takes_gemm(tiny)  # the switch is restored on leaving the block (to the fixture's "on")
    assert not small_map_conv(6, 10, 3, 1, False, groups=2).takes_gemm(tiny)


def test_every_convolution_of_the_model_takes_the_path_and_its_state_dict_is_unchanged():
    model = build_model("resnet18", image_size=12)
    convolutions = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert convolutions and all(type(m) is SmallMapConv2d for m in convolutions)
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        fast = model.eval()(x)
        with small_map_gemm(False):
            plain = model(x)
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-5)
