"""Typed, validated view of `params.yaml`: every stage loads its parameters through `load_params`.

The dataclasses hold no defaults: params.yaml, what DVC reads and records, is the one place the values live, so it
must list every key. Validation happens once, before any work: missing and unknown keys (typos), wrong types and
out-of-range values all raise `UserError` with the offending key named.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import re
import typing
import urllib.parse
from pathlib import Path
from typing import Any, Literal

import yaml

from .corruption_table import SEVERITIES, expand_corruptions
from .datasets import CIFAR10
from .errors import UserError
from .limits import MIN_TSNE_SAMPLES

# The ResNet depths; each one's layout (He et al.) is model/architectures.py's, which the model is built from.
Architecture = Literal["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
ARCHITECTURES: tuple[str, ...] = typing.get_args(Architecture)
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SCHEDULERS = ("multistep", "cosine", "linear", "onecycle")
FLIPS = ("none", "random", "alternate")
PADDINGS = ("zeros", "reflect")
MAX_TRANSLATE = CIFAR10.image_side // 2  # pixels (reflect padding mirrors at most the whole image minus its edge)
DEVICES = ("auto", "cpu", "cuda")
TTA_MODES = ("none", "flip", "flip_translate")  # each one's views: engine/inference.py TTA_VIEWS
PINNED_GPU = re.compile(r"cuda:[0-9]+")  # train.device 'cuda:N': GPU N, which engine/gpu_claim.py does not choose
URL_SCHEMES = ("http", "https", "file", "")  # "": a plain path
MIN_IMAGE_SIZE = 8


@dataclasses.dataclass(frozen=True)
class DataParams:
    url: str
    md5: str
    train_size: int
    val_size: int
    test_size: int


@dataclasses.dataclass(frozen=True)
class ModelParams:
    arch: str
    zero_init_residual: bool
    image_size: int


@dataclasses.dataclass(frozen=True)
class TrainParams:
    epochs: int
    early_image_sizes: list[int]
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float
    nesterov: bool
    milestones: list[int]
    gamma: float
    scheduler: str
    warmup_epochs: float
    label_smoothing: float
    flip: str
    translate: int
    padding: str
    ema_decay: float
    bn_bias_lr_scale: float
    precise_bn_batches: int
    precision: str
    compile: bool
    device: str
    nproc: int
    remote_resume: bool


@dataclasses.dataclass(frozen=True)
class EvaluateParams:
    batch_size: int
    tta: str  # one of TTA_MODES
    calibration_bins: int


@dataclasses.dataclass(frozen=True)
class RobustnessParams:
    corruptions: list[str]  # names and groups (corruption_table.py)
    severities: list[int]
    images: int


@dataclasses.dataclass(frozen=True)
class PlotParams:
    grid_size: int
    dpi: int
    tsne_samples: int


@dataclasses.dataclass(frozen=True)
class Params:
    seed: int
    data: DataParams
    model: ModelParams
    train: TrainParams
    evaluate: EvaluateParams
    robustness: RobustnessParams
    plot: PlotParams


def param_keys(schema: type = Params, prefix: str = "") -> frozenset[str]:
    """Every parameter's dotted key ("seed", "train.lr", ...): the schema's, which params.yaml must match exactly."""
    keys: set[str] = set()
    for name, hint in typing.get_type_hints(schema).items():
        keys |= param_keys(hint, f"{prefix}{name}.") if dataclasses.is_dataclass(hint) else {f"{prefix}{name}"}
    return frozenset(keys)


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate a params file; raise `UserError` naming the first problem found."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path} not found: run from the repository root") from None
    except yaml.YAMLError as err:
        raise UserError(f"{path} is not valid YAML: {_yaml_problem(err)}") from None
    return parse_params(raw if raw is not None else {}, source=str(path))


def parse_params(raw: Any, source: str = "params.yaml") -> Params:
    """Validate a params tree (as parsed from YAML); `source` names the file in the error for a missing key."""
    params = _build(Params, raw, prefix="", source=source)
    _check_ranges(params)
    return params


def _yaml_problem(err: yaml.YAMLError) -> str:
    """The YAML parser's complaint and where, on one line (its own message spans several)."""
    problem = getattr(err, "problem", None) or str(err)
    mark = getattr(err, "problem_mark", None)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else problem


def _build(cls: type, raw: Any, prefix: str, source: str) -> Any:
    if not isinstance(raw, dict):
        raise UserError(f"{prefix.rstrip('.') or 'params'} must be a mapping, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in raw:
        if key not in fields:
            close = _suggest(str(key), list(fields))
            hint = f" (did you mean '{prefix}{close}'?)" if close else ""
            raise UserError(f"unknown parameter '{prefix}{key}'{hint}; valid keys here: {', '.join(fields)}")
    values = {}
    for name in fields:
        hint = hints[name]
        if name not in raw:
            kind = "section" if dataclasses.is_dataclass(hint) else "parameter"
            raise UserError(f"missing {kind} '{prefix}{name}' in {source}")
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, raw[name], prefix=f"{prefix}{name}.", source=source)
        else:
            values[name] = _coerce(raw[name], hint, f"{prefix}{name}")
    return cls(**values)


def _suggest(key: str, valid: list[str]) -> str | None:
    """The valid key a typo most likely meant: a close spelling, or the initials of its words (learning_rate: lr)."""
    close = difflib.get_close_matches(key, valid, n=1)
    if close:
        return close[0]
    initials = "".join(word[0] for word in key.split("_") if word)
    return initials if len(initials) > 1 and initials in valid else None


def _coerce(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise UserError(f"{key} must be a list, got {value!r}")
        return [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and not math.isfinite(value):
            raise UserError(f"{key} must be a finite number, got {value}")
        if isinstance(value, str) and _is_number(value):
            raise UserError(f"{key} must be a number, got the text {value!r}: YAML reads exponent notation as a "
                            f"number only with a dot and a signed exponent (1.0e-3, not 1e-3)")
        value = float(value) if ok else value
    elif hint is str:
        ok = isinstance(value, str)
    else:  # pragma: no cover - a new field type without a rule here is a programming error
        raise TypeError(f"no validation rule for {key}: {hint}")
    if not ok:
        raise UserError(f"{key} must be of type {hint.__name__}, got {value!r}")
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_ranges(p: Params) -> None:
    def require(cond: bool, message: str) -> None:
        if not cond:
            raise UserError(message)

    require(p.model.arch in ARCHITECTURES,
            f"model.arch '{p.model.arch}' is not one of: {', '.join(ARCHITECTURES)}")
    side = CIFAR10.image_side
    require(MIN_IMAGE_SIZE <= p.model.image_size <= side,
            f"model.image_size must be in [{MIN_IMAGE_SIZE}, {side}] (CIFAR images are {side}x{side}, and the "
            f"network halves the side three times), got {p.model.image_size}")
    require(p.seed >= 0, f"seed must be >= 0, got {p.seed}")
    d = p.data
    for key in ("train_size", "val_size", "test_size"):
        require(getattr(d, key) > 0, f"data.{key} must be > 0, got {getattr(d, key)}")
    require(d.train_size + d.val_size <= CIFAR10.train_images,
            f"data.train_size + data.val_size = {d.train_size + d.val_size} exceeds the "
            f"{CIFAR10.train_images} {CIFAR10.title} training images they are drawn from")
    require(d.test_size <= CIFAR10.test_images,
            f"data.test_size {d.test_size} exceeds the {CIFAR10.test_images} {CIFAR10.title} test images")
    scheme = urllib.parse.urlparse(d.url).scheme
    require(bool(d.url) and (scheme in URL_SCHEMES or len(scheme) == 1),  # one letter: a Windows drive
            f"data.url must be an http(s):// or file:// URL or a local path, got {d.url!r}")
    require(len(d.md5) == 32 and all(c in "0123456789abcdef" for c in d.md5.lower()),
            f"data.md5 must be 32 hexadecimal digits, got {d.md5!r}")
    t = p.train
    for key in ("epochs", "batch_size"):
        require(getattr(t, key) > 0, f"train.{key} must be > 0, got {getattr(t, key)}")
    require(len(t.early_image_sizes) < t.epochs
            and all(MIN_IMAGE_SIZE <= size <= side for size in t.early_image_sizes),
            f"train.early_image_sizes must give fewer sides than train.epochs ({t.epochs}: the last epoch trains at "
            f"model.image_size, the side evaluated), each in [{MIN_IMAGE_SIZE}, {side}], "
            f"got {t.early_image_sizes}")
    require(t.lr > 0, f"train.lr must be > 0, got {t.lr}")
    require(0 <= t.momentum < 1, f"train.momentum must be in [0, 1), got {t.momentum}")
    require(t.weight_decay >= 0, f"train.weight_decay must be >= 0, got {t.weight_decay}")
    require(0 < t.gamma <= 1, f"train.gamma must be in (0, 1], got {t.gamma}")
    require(all(m > 0 for m in t.milestones) and t.milestones == sorted(set(t.milestones)),
            f"train.milestones must be strictly increasing positive epochs, got {t.milestones}")
    require(not (t.nesterov and t.momentum == 0), "train.nesterov needs train.momentum > 0")
    require(t.scheduler in SCHEDULERS, f"train.scheduler '{t.scheduler}' is not one of: {', '.join(SCHEDULERS)}")
    require(0 <= t.warmup_epochs < t.epochs,
            f"train.warmup_epochs must be in [0, train.epochs), got {t.warmup_epochs}")
    require(t.scheduler != "onecycle" or t.warmup_epochs > 0,
            "train.scheduler 'onecycle' needs train.warmup_epochs > 0 (the length of its rising phase)")
    require(0 <= t.label_smoothing < 1, f"train.label_smoothing must be in [0, 1), got {t.label_smoothing}")
    require(t.flip in FLIPS, f"train.flip '{t.flip}' is not one of: {', '.join(FLIPS)}")
    require(0 <= t.translate <= MAX_TRANSLATE,
            f"train.translate must be in [0, {MAX_TRANSLATE}] pixels, got {t.translate}")
    require(t.padding in PADDINGS, f"train.padding '{t.padding}' is not one of: {', '.join(PADDINGS)}")
    require(0 <= t.ema_decay < 1, f"train.ema_decay must be in [0, 1) (0: no averaged weights), got {t.ema_decay}")
    require(t.bn_bias_lr_scale > 0, f"train.bn_bias_lr_scale must be > 0, got {t.bn_bias_lr_scale}")
    require(t.precise_bn_batches >= 0, f"train.precise_bn_batches must be >= 0, got {t.precise_bn_batches}")
    require(t.precision in PRECISIONS, f"train.precision '{t.precision}' is not one of: {', '.join(PRECISIONS)}")
    require(t.device in DEVICES or bool(PINNED_GPU.fullmatch(t.device)),
            f"train.device '{t.device}' is not one of: {', '.join(DEVICES)}, cuda:N (GPU N)")
    require(t.nproc == 1 or not PINNED_GPU.fullmatch(t.device),
            f"train.device '{t.device}' pins one GPU, but train.nproc {t.nproc} processes each take their own: "
            f"use 'cuda' or 'auto'")
    require(1 <= t.nproc <= t.batch_size,
            f"train.nproc must be in [1, train.batch_size] (each process takes a share of every batch), got {t.nproc}")
    require(p.evaluate.batch_size > 0, f"evaluate.batch_size must be > 0, got {p.evaluate.batch_size}")
    require(p.evaluate.tta in TTA_MODES, f"evaluate.tta '{p.evaluate.tta}' is not one of: {', '.join(TTA_MODES)}")
    require(p.plot.grid_size > 0, f"plot.grid_size must be > 0, got {p.plot.grid_size}")
    require(p.plot.dpi > 0, f"plot.dpi must be > 0, got {p.plot.dpi}")
    require(p.evaluate.calibration_bins > 0,
            f"evaluate.calibration_bins must be > 0, got {p.evaluate.calibration_bins}")
    require(p.plot.tsne_samples >= MIN_TSNE_SAMPLES,
            f"plot.tsne_samples must be >= {MIN_TSNE_SAMPLES}, got {p.plot.tsne_samples}")
    _check_robustness(p.robustness, p.data)


def _check_robustness(r: RobustnessParams, d: DataParams) -> None:
    if not r.corruptions:
        raise UserError("robustness.corruptions must name at least one corruption or group (e.g. [all])")
    try:
        expand_corruptions(r.corruptions)
    except ValueError as err:
        raise UserError(f"robustness.corruptions: {err}") from None
    if not r.severities or r.severities != sorted(set(r.severities)) or not set(r.severities) <= set(SEVERITIES):
        raise UserError(f"robustness.severities must be strictly increasing values of {', '.join(map(str, SEVERITIES))}"
                        f", got {r.severities}")
    if not 0 < r.images <= d.test_size:
        raise UserError(f"robustness.images must be in [1, data.test_size = {d.test_size}] (they are drawn from the "
                        f"test subset), got {r.images}")
