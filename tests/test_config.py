import re

import pytest
import yaml

from committed import committed_params, committed_params_text, committed_params_with
from resnet_cifar.config import load_params, param_keys, read_yaml_text
from resnet_cifar.errors import UserError
from resnet_cifar.overrides import read_recipe


def write(tmp_path, text):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_the_committed_params_are_valid_and_name_the_official_archive():
    data = committed_params().data
    assert data.url == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    assert data.md5 == "c58f30108f718f92721af3b95e74349a"


def dotted_keys(tree: dict, prefix: str = "") -> list[str]:
    """Every key of a params tree, sections and their keys, as `section.key`."""
    keys = []
    for key, value in tree.items():
        keys.append(f"{prefix}{key}")
        if isinstance(value, dict):
            keys.extend(dotted_keys(value, f"{prefix}{key}."))
    return keys


def test_param_keys_are_params_yamls_leaves():
    tree = yaml.safe_load(committed_params_text())
    sections = {key for key, value in tree.items() if isinstance(value, dict)}
    assert param_keys() == set(dotted_keys(tree)) - sections


@pytest.mark.parametrize("key", dotted_keys(yaml.safe_load(committed_params_text())))
def test_every_key_is_required_and_a_missing_one_is_named(tmp_path, key):
    """params.yaml is the one source of every value: no key may fall back to a default held elsewhere."""
    tree = yaml.safe_load(committed_params_text())
    *sections, leaf = key.split(".")
    node = tree
    for section in sections:
        node = node[section]
    kind = "section" if isinstance(node.pop(leaf), dict) else "parameter"
    path = write(tmp_path, yaml.safe_dump(tree, sort_keys=False))
    with pytest.raises(UserError) as caught:
        load_params(path)
    assert str(caught.value) == f"missing {kind} '{key}' in {path}"


@pytest.mark.parametrize("text, message", [
    ("model: {arch: resnet19}", "resnet18, resnet34, resnet50, resnet101, resnet152"),
    ("train: {learning_rate: 0.1}", "did you mean 'train.lr'"),
    ("train: {lr: 0}", "train.lr must be > 0"),
    ("train: {lr: -0.1}", "train.lr must be > 0"),
    ("train: {epochs: 0}", "train.epochs must be > 0"),
    ("train: {batch_size: -5}", "train.batch_size must be > 0"),
    ("train: {epochs: '3'}", "train.epochs must be of type int"),
    ("train: {epochs: 2.5}", "train.epochs must be of type int"),
    ("train: {nesterov: 'yes'}", "train.nesterov must be of type bool"),
    ("train: {milestones: [80, 60]}", "strictly increasing"),
    ("data: {train_size: 0}", "data.train_size must be > 0"),
    ("data: {test_size: 10001}", "exceeds the 10000"),
    ("data: {train_size: 45000, val_size: 6000}", "exceeds the 50000"),
    ("data: {md5: abc}", "32 hexadecimal"),
    ("bogus: 1", "unknown parameter 'bogus'"),
    ("train: [1, 2]", "train must be a mapping"),
    ("model: {arch: 18}", "model.arch must be of type str"),
    ("data: {val_size: -1}", "data.val_size must be > 0"),
    ("data: {test_size: 0}", "data.test_size must be > 0"),
    ("evaluate: {batch_size: 0}", "evaluate.batch_size must be > 0"),
    ("train: {lr: .inf}", "train.lr must be a finite number, got inf"),
    ("train: {weight_decay: .nan}", "train.weight_decay must be a finite number"),
    ("train: {lr: '0.5'}", "train.lr must be a number, got the text '0.5': write it without quotes"),
    ("data: {url: 's3://bucket/cifar.tar.gz'}", "data.url must be an http(s):// or file:// URL or a local path"),
    ("data: {url: ''}", "data.url must be"),
    ("evaluate: {tta: 1}", "evaluate.tta must be of type str"),
    ("evaluate: {tta: true}", "evaluate.tta must be of type str, got True"),  # the old boolean
    ("evaluate: {tta: mirror}", "evaluate.tta 'mirror' is not one of: none, flip, flip_translate"),
    ("evaluate: {calibration_bins: 0}", "evaluate.calibration_bins must be > 0"),
    ("train: {augment: true}", "unknown parameter 'train.augment'"),  # now train.flip and train.translate
    ("train: {flip: horizontal}", "train.flip 'horizontal' is not one of: none, random, alternate"),
    ("train: {translate: -1}", "train.translate must be in [0, 16] pixels, got -1"),
    ("train: {translate: 17}", "train.translate must be in [0, 16] pixels, got 17"),
    ("train: {padding: edge}", "train.padding 'edge' is not one of: zeros, reflect"),
    ("train: {ema_decay: 1.0}", "train.ema_decay must be in [0, 1)"),
    ("train: {ema_decay: -0.1}", "train.ema_decay must be in [0, 1)"),
    ("train: {bn_bias_lr_scale: 0}", "train.bn_bias_lr_scale must be > 0"),
    ("train: {scheduler: step}", "is not one of: multistep, cosine, linear, onecycle"),
    ("plot: {tsne_samples: 5}", "plot.tsne_samples must be >= 10"),
    ("model: {image_size: 7}", "model.image_size must be in [8, 32]"),
    ("model: {image_size: 33}", "model.image_size must be in [8, 32]"),
    ("train: {epochs: 2, early_image_sizes: [8, 12]}", "train.early_image_sizes must give fewer sides than "
                                                        "train.epochs (2: the last epoch trains at model.image_size"),
    ("train: {epochs: 2, early_image_sizes: [4]}", "each in [8, 32], got [4]"),
    ("train: {epochs: 2, early_image_sizes: [33]}", "each in [8, 32], got [33]"),
    ("train: {early_image_sizes: 8}", "train.early_image_sizes must be a list, got 8"),
    ("train: {precise_bn_batches: -1}", "train.precise_bn_batches must be >= 0, got -1"),
    ("train: {precise_bn_batches: 2.5}", "train.precise_bn_batches must be of type int"),
    ("train: {precise_bn_batches: true}", "train.precise_bn_batches must be of type int"),
    ("robustness: {corruptions: [fogg]}", "robustness.corruptions: 'fogg' is not a corruption or group (did you mean "
                                          "'fog'?); groups: all, standard, noise, blur, weather, digital, extra;"),
    ("robustness: {corruptions: [noise, Standard]}", "robustness.corruptions: 'Standard' is not a corruption or group"),
    ("robustness: {corruptions: []}", "robustness.corruptions must name at least one corruption or group"),
    ("robustness: {corruptions: all}", "robustness.corruptions must be a list, got 'all'"),
    ("robustness: {severities: [0, 1]}", "robustness.severities must be strictly increasing values of 1, 2, 3, 4, 5"),
    ("robustness: {severities: [3, 1]}", "robustness.severities must be strictly increasing"),
    ("robustness: {severities: [3, 3]}", "robustness.severities must be strictly increasing"),
    ("robustness: {severities: [6]}", "robustness.severities must be strictly increasing"),
    ("robustness: {severities: []}", "robustness.severities must be strictly increasing"),
    ("robustness: {images: 0}", "robustness.images must be in [1, data.test_size = 1000]"),
    ("robustness: {images: 1001}", "robustness.images must be in [1, data.test_size = 1000] (they are drawn from"),
    ("{data: {test_size: 200}, robustness: {images: 201}}", "robustness.images must be in [1, data.test_size = 200] "
                                                            "(they are drawn from the test subset), got 201"),
])
def test_invalid_params_are_rejected_with_a_named_key(tmp_path, text, message):
    with pytest.raises(UserError, match=re.escape(message)) as caught:
        load_params(write(tmp_path, committed_params_with(text)))
    assert "\n" not in str(caught.value)


def test_ints_are_accepted_for_floats(tmp_path):
    p = load_params(write(tmp_path, committed_params_with("train: {lr: 1}")))
    assert p.train.lr == 1.0 and isinstance(p.train.lr, float)


@pytest.mark.parametrize(("written", "value"), [("1e-06", 1e-06), ("1E-3", 1e-3), ("2e+2", 200.0), (".5e1", 5.0),
                                                ("1.0e-3", 1e-3), ("+3e-1", 0.3)])
def test_exponent_notation_is_a_number_as_dvc_reads_and_writes_it(tmp_path, written, value):
    # DVC (YAML 1.2) writes `dvc exp run -S train.lr=0.000001` as `lr: 1e-06`: text to YAML 1.1, a float here.
    p = load_params(write(tmp_path, committed_params_with(f"train: {{lr: {written}}}")))
    assert p.train.lr == value and isinstance(p.train.lr, float)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"train:\n  lr: {written}\n")
    assert read_recipe(recipe) == {"train.lr": value}
    assert read_yaml_text("[12, 0x1f, 1_000, 1.5, '1e-3', true, -3e-1]") == [12, 31, 1000, 1.5, "1e-3", True, -0.3]


def test_a_params_file_that_is_no_text_or_no_file_is_one_line(tmp_path):
    (tmp_path / "params.yaml").write_bytes(b"train:\n  lr: \xff\n")
    with pytest.raises(UserError, match=r"params.yaml is not UTF-8 text: invalid start byte at byte 13$"):
        load_params(tmp_path / "params.yaml")
    (tmp_path / "folder.yaml").mkdir()
    with pytest.raises(UserError, match=r"cannot read .*folder.yaml: Is a directory$"):
        load_params(tmp_path / "folder.yaml")


def test_a_yaml_syntax_error_is_one_line_with_its_position(tmp_path):
    with pytest.raises(UserError) as caught:
        load_params(write(tmp_path, "train:\n  lr: [0.1\n  epochs: 3\n"))
    message = str(caught.value)
    assert "\n" not in message and "is not valid YAML" in message and "line 3, column" in message
