import pytest
import torch
import torchvision
from torch import nn

from resnet_cifar.config import ARCHITECTURES
from resnet_cifar.model.resnet import BUILDERS, build_model
from resnet_cifar.model.summary import parameter_counts

EXPECTED_PARAMS = {
    "resnet18": 11_173_962,
    "resnet34": 21_282_122,
    "resnet50": 23_520_842,
    "resnet101": 42_512_970,
    "resnet152": 58_156_618,
}


def test_every_configurable_architecture_has_a_builder():
    assert set(BUILDERS) == set(ARCHITECTURES) == set(EXPECTED_PARAMS)


@pytest.mark.parametrize("arch", EXPECTED_PARAMS)
def test_parameter_count_shapes_and_features(arch):
    torch.manual_seed(0)
    model = build_model(arch).eval()
    counts = parameter_counts(model)
    assert counts["total"] == EXPECTED_PARAMS[arch]
    assert sum(v for k, v in counts.items() if k != "total") == counts["total"]
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        logits, features = model(x), model.features(x)
    assert logits.shape == (2, 10)
    assert features.shape == (2, 512 if arch in ("resnet18", "resnet34") else 2048)
    assert torch.allclose(model.fc(features), logits, atol=1e-5)


def test_cifar_stem_keeps_resolution_and_has_no_maxpool():
    model = build_model("resnet18")
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert not any(isinstance(m, nn.MaxPool2d) for m in model.modules())
    shapes = {}
    for name in ("layer1", "layer4"):
        getattr(model, name).register_forward_hook(lambda m, i, o, name=name: shapes.__setitem__(name, o.shape))
    model.eval()(torch.randn(1, 3, 32, 32))
    assert shapes["layer1"][-2:] == (32, 32) and shapes["layer4"][-2:] == (4, 4)


def test_a_smaller_image_size_downsamples_inside_the_model():
    torch.manual_seed(0)
    small = build_model("resnet18", image_size=16).eval()
    full = build_model("resnet18").eval()
    full.load_state_dict(small.state_dict())  # same weights: image_size adds no parameters
    x = torch.randn(2, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    seen = {}
    small.layer1.register_forward_hook(lambda m, i, o: seen.__setitem__("layer1", o))
    with torch.no_grad():
        logits = small(x)
        downsampled = nn.functional.interpolate(x, size=(16, 16), mode="bilinear", antialias=True)
        assert torch.allclose(logits, full(downsampled), atol=1e-5)
        assert torch.equal(small(downsampled), logits)  # input already at 16x16 passes through unchanged
    assert seen["layer1"].shape[-2:] == (16, 16)
    assert seen["layer1"].is_contiguous(memory_format=torch.channels_last)  # the caller's fast layout is kept


@pytest.mark.parametrize("name", ["conv1", "layer3.0.conv1"])  # the CIFAR stem, made after torchvision's init ran
def test_kaiming_fan_out_init(name):
    torch.manual_seed(0)
    conv = build_model("resnet18").get_submodule(name)  # 3x3 convolutions
    expected_std = (2 / (conv.out_channels * 9)) ** 0.5
    # The std of N normal draws is off by about 1 / sqrt(2N) of it: 0.017 for the stem's 1,728 weights, the fewest.
    assert conv.weight.std().item() == pytest.approx(expected_std, rel=0.05)


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_zero_init_residual_starts_the_last_batchnorm_of_every_block_at_zero(arch):
    for zero in (True, False):
        model = build_model(arch, zero_init_residual=zero)
        blocks = [block for layer in (model.layer1, model.layer2, model.layer3, model.layer4) for block in layer]
        last = [block.bn3 if arch == "resnet50" else block.bn2 for block in blocks]
        assert all(torch.all(bn.weight == (0 if zero else 1)) for bn in last)
        assert torch.all(model.bn1.weight == 1) and torch.all(model.bn1.bias == 0)


@pytest.mark.parametrize("side", [32, 8])  # 8x8: the last two stages on 2x2 and 1x1 maps, through small_maps.py
@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_parity_with_torchvision(arch, side):
    """torchvision's ResNet with a CIFAR stem loads our weights and computes the same function."""
    torch.manual_seed(0)
    ours = build_model(arch)
    reference = getattr(torchvision.models, arch)(weights=None, num_classes=10)
    reference.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    reference.maxpool = nn.Identity()
    reference.load_state_dict(ours.state_dict())  # strict: every key and shape matches
    # Perturb the BatchNorm statistics so eval mode does not reduce to the identity.
    with torch.no_grad():
        for m in ours.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(4, 3, side, side)
    with torch.no_grad():
        assert torch.allclose(ours.eval()(x), reference.eval()(x), atol=1e-5)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_every_initial_weight_is_what_torchvisions_class_gave_for_the_same_seed(arch):
    """The model was first built on torchvision's ResNet class, its CIFAR stem made after torchvision's init; the
    same seed must still give the same weights, bit for bit, so results and published numbers stay as they were."""
    for zero, classes in ((True, 10), (False, 100)):
        torch.manual_seed(0)
        ours = build_model(arch, num_classes=classes, zero_init_residual=zero)
        torch.manual_seed(0)
        reference = getattr(torchvision.models, arch)(weights=None, num_classes=classes, zero_init_residual=zero)
        reference.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        nn.init.kaiming_normal_(reference.conv1.weight, mode="fan_out", nonlinearity="relu")
        theirs = reference.state_dict()
        assert list(ours.state_dict()) == list(theirs)
        assert all(torch.equal(value, theirs[key]) for key, value in ours.state_dict().items()), (arch, zero)
