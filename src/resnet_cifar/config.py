"""Typed, validated view of `params.yaml`: every stage loads its parameters through `load_params`.

The dataclasses hold no defaults: params.yaml, what DVC reads and records, is the one place the values live, so it
must list every key. Each field carries its type and constraint, and a rule across fields is a validator of the class
that holds them (pydantic checks both). Validation happens once, before any work: missing and unknown keys (typos),
wrong types and out-of-range values all raise `UserError`, one line naming the offending key (`_message`).

Every package imports this module, so it imports none of them: the facts it checks against that the stages' code
reads too live in top-level leaf modules (datasets.py, corruption_table.py, limits.py).
"""
from __future__ import annotations

import dataclasses
import difflib
import re
import string
import typing
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

import yaml
from pydantic import (
    AllowInfNan,
    ConfigDict,
    Field,
    Strict,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.dataclasses import dataclass

from .corruption_table import SEVERITIES, expand_corruptions
from .datasets import DATASETS, IMAGE_SIDE
from .errors import UserError
from .limits import MIN_TSNE_SAMPLES

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo
    from pydantic_core import ErrorDetails

# Strict leaf types: YAML's text stays text ('3' is no int), a bool is no number and 2.0 no int; an int may stand for
# a float (YAML writes 0, not 0.0) and becomes one. Strict per type rather than by the classes' config, under which a
# dataclass takes only an instance of itself: a section given as a mapping would be refused.
Int = Annotated[int, Strict()]
Float = Annotated[float, Strict(), AllowInfNan(False)]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]
Ints = Annotated[list[Int], Strict()]
Strs = Annotated[list[Str], Strict()]
SCHEMA = ConfigDict(extra="forbid")  # an unknown key is a typo
# A bound's error says the range; a field's description is the hint it adds (`_out_of_bounds`).

# The ResNet depths; each one's layout (He et al.) is model/architectures.py's, which the model is built from.
Architecture = Literal["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
ARCHITECTURES: tuple[str, ...] = typing.get_args(Architecture)
TtaMode = Literal["none", "flip", "flip_translate"]  # each one's views: engine/inference.py TTA_VIEWS
TTA_MODES: tuple[str, ...] = typing.get_args(TtaMode)
MIN_IMAGE_SIZE = 8  # pixels: the network halves the side three times
MAX_TRANSLATE = IMAGE_SIDE // 2  # pixels (reflect padding mirrors at most the whole image minus its edge)
DEVICES = ("auto", "cpu", "cuda")
PINNED_GPU = re.compile(r"cuda:[0-9]+")  # train.device 'cuda:N': GPU N, which engine/gpu_claim.py does not choose
URL_SCHEMES = ("http", "https", "file", "")  # "": a plain path
DatasetName = Literal["cifar10", "cifar100", "folder"]  # datasets.py DATASETS
LabelSet = Literal["fine", "coarse"]  # every dataset's Dataset.label_sets among them


@dataclass(frozen=True, config=SCHEMA)
class DataParams:
    dataset: DatasetName
    labels: LabelSet  # one of the dataset's label sets (_known_labels)
    url: Str  # an http(s):// or file:// URL or a local path (_url_or_path)
    md5: Str  # 32 hexadecimal digits (_md5_digits), not another dataset's official archive (_archive_of_dataset)
    train_size: Annotated[Int, Field(gt=0)]  # train_size + val_size <= the dataset's training images (_within_dataset)
    val_size: Annotated[Int, Field(gt=0)]
    test_size: Annotated[Int, Field(gt=0)]  # <= the dataset's test images (_within_dataset)

    @field_validator("url")
    @classmethod
    def _url_or_path(cls, url: str) -> str:
        scheme = urllib.parse.urlparse(url).scheme
        if not url or not (scheme in URL_SCHEMES or len(scheme) == 1):  # one letter: a Windows drive
            raise ValueError(f"data.url must be an http(s):// or file:// URL or a local path, got {url!r}")
        return url

    @field_validator("md5")
    @classmethod
    def _md5_digits(cls, md5: str) -> str:
        if len(md5) != 32 or not set(md5) <= set(string.hexdigits):
            raise ValueError(f"data.md5 must be 32 hexadecimal digits, got {md5!r}")
        return md5

    @model_validator(mode="after")
    def _known_labels(self) -> Self:
        choices = DATASETS[self.dataset].label_sets
        if self.labels not in choices:
            raise ValueError(f"data.labels '{self.labels}' is not one of {self.dataset}'s: {', '.join(choices)}")
        return self

    @model_validator(mode="after")
    def _archive_of_dataset(self) -> Self:
        """Switching data.dataset alone would download the other dataset's archive and fail on its contents."""
        dataset = DATASETS[self.dataset]
        for name, other in DATASETS.items():
            if name != self.dataset and other.md5 == self.md5.lower():
                hint = (f" ({dataset.recipe} sets both)" if dataset.recipe else
                        f" (the official one: {dataset.url}, MD5 {dataset.md5})" if dataset.url else "")
                raise ValueError(f"data.dataset is {self.dataset}, but data.md5 is the official {other.title} "
                                 f"archive's: point data.url and data.md5 at the {self.dataset} archive{hint}")
        return self

    @model_validator(mode="after")
    def _within_dataset(self) -> Self:
        dataset = DATASETS[self.dataset]  # a folder's sizes are known only on download: stage subset checks them
        drawn = self.train_size + self.val_size
        if dataset.train_images is not None and drawn > dataset.train_images:
            raise ValueError(f"data.train_size + data.val_size = {drawn} exceeds the {dataset.train_images} "
                             f"{dataset.title} training images they are drawn from")
        if dataset.test_images is not None and self.test_size > dataset.test_images:
            raise ValueError(f"data.test_size {self.test_size} exceeds the {dataset.test_images} {dataset.title} "
                             f"test images")
        return self


@dataclass(frozen=True, config=SCHEMA)
class ModelParams:
    arch: Architecture
    zero_init_residual: Bool
    image_size: Annotated[Int, Field(ge=MIN_IMAGE_SIZE, le=IMAGE_SIDE, description=(
        f"(images are stored at {IMAGE_SIDE}x{IMAGE_SIDE}, and the network halves the side three times)"))]


@dataclass(frozen=True, config=SCHEMA)
class TrainParams:
    epochs: Annotated[Int, Field(gt=0)]
    early_image_sizes: Ints  # fewer than epochs, each in [MIN_IMAGE_SIZE, image side] (_early_sides_fit)
    batch_size: Annotated[Int, Field(gt=0)]
    lr: Annotated[Float, Field(gt=0)]
    momentum: Annotated[Float, Field(ge=0, lt=1)]
    weight_decay: Annotated[Float, Field(ge=0)]
    nesterov: Bool  # needs momentum > 0 (_nesterov_needs_momentum)
    milestones: Ints  # strictly increasing positive epochs (_increasing_milestones)
    gamma: Annotated[Float, Field(gt=0, le=1)]
    scheduler: Literal["multistep", "cosine", "linear", "onecycle"]
    warmup_epochs: Float  # in [0, epochs); > 0 for onecycle, its rising phase (_warmup_fits)
    label_smoothing: Annotated[Float, Field(ge=0, lt=1)]
    flip: Literal["none", "random", "alternate"]
    translate: Annotated[Int, Field(ge=0, le=MAX_TRANSLATE, description="pixels")]
    padding: Literal["zeros", "reflect"]
    ema_decay: Annotated[Float, Field(ge=0, lt=1, description="(0: no averaged weights)")]
    bn_bias_lr_scale: Annotated[Float, Field(gt=0)]
    precise_bn_batches: Annotated[Int, Field(ge=0)]
    precision: Literal["auto", "fp32", "bf16", "fp16"]
    compile: Bool
    device: Str  # one of DEVICES or cuda:N (_known_device)
    nproc: Int  # in [1, batch_size], and 1 on a pinned GPU (_processes_fit)
    remote_resume: Bool

    @field_validator("milestones")
    @classmethod
    def _increasing_milestones(cls, milestones: list[int]) -> list[int]:
        if not all(m > 0 for m in milestones) or milestones != sorted(set(milestones)):
            raise ValueError(f"train.milestones must be strictly increasing positive epochs, got {milestones}")
        return milestones

    @field_validator("device")
    @classmethod
    def _known_device(cls, device: str) -> str:
        if device not in DEVICES and not PINNED_GPU.fullmatch(device):
            raise ValueError(f"train.device '{device}' is not one of: {', '.join(DEVICES)}, cuda:N (GPU N)")
        return device

    @model_validator(mode="after")
    def _early_sides_fit(self) -> Self:
        side = IMAGE_SIDE
        if len(self.early_image_sizes) >= self.epochs or not all(
                MIN_IMAGE_SIZE <= size <= side for size in self.early_image_sizes):
            raise ValueError(f"train.early_image_sizes must give fewer sides than train.epochs ({self.epochs}: the "
                             f"last epoch trains at model.image_size, the side evaluated), each in [{MIN_IMAGE_SIZE}, "
                             f"{side}], got {self.early_image_sizes}")
        return self

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> Self:
        if self.nesterov and self.momentum == 0:
            raise ValueError("train.nesterov needs train.momentum > 0")
        return self

    @model_validator(mode="after")
    def _warmup_fits(self) -> Self:
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError(f"train.warmup_epochs must be in [0, train.epochs), got {self.warmup_epochs}")
        if self.scheduler == "onecycle" and self.warmup_epochs == 0:
            raise ValueError("train.scheduler 'onecycle' needs train.warmup_epochs > 0 (the length of its rising "
                             "phase)")
        return self

    @model_validator(mode="after")
    def _processes_fit(self) -> Self:
        if self.nproc != 1 and PINNED_GPU.fullmatch(self.device):
            raise ValueError(f"train.device '{self.device}' pins one GPU, but train.nproc {self.nproc} processes "
                             f"each take their own: use 'cuda' or 'auto'")
        if not 1 <= self.nproc <= self.batch_size:
            raise ValueError(f"train.nproc must be in [1, train.batch_size] (each process takes a share of every "
                             f"batch), got {self.nproc}")
        return self


@dataclass(frozen=True, config=SCHEMA)
class EvaluateParams:
    batch_size: Annotated[Int, Field(gt=0)]
    tta: TtaMode
    calibration_bins: Annotated[Int, Field(gt=0)]


@dataclass(frozen=True, config=SCHEMA)
class RobustnessParams:
    corruptions: Strs  # at least one of corruption_table.py's names and groups (_known_corruptions)
    severities: Ints  # strictly increasing values of SEVERITIES (_known_severities)
    images: Int  # in [1, data.test_size] (Params._images_within_test_subset)

    @field_validator("corruptions")
    @classmethod
    def _known_corruptions(cls, corruptions: list[str]) -> list[str]:
        if not corruptions:
            raise ValueError("robustness.corruptions must name at least one corruption or group (e.g. [all])")
        try:
            expand_corruptions(corruptions)
        except ValueError as err:
            raise ValueError(f"robustness.corruptions: {err}") from None
        return corruptions

    @field_validator("severities")
    @classmethod
    def _known_severities(cls, severities: list[int]) -> list[int]:
        if not severities or severities != sorted(set(severities)) or not set(severities) <= set(SEVERITIES):
            raise ValueError(f"robustness.severities must be strictly increasing values of "
                             f"{', '.join(map(str, SEVERITIES))}, got {severities}")
        return severities


@dataclass(frozen=True, config=SCHEMA)
class PlotParams:
    grid_size: Annotated[Int, Field(gt=0)]
    dpi: Annotated[Int, Field(gt=0)]
    tsne_samples: Annotated[Int, Field(ge=MIN_TSNE_SAMPLES)]


@dataclass(frozen=True, config=SCHEMA)
class Params:
    seed: Annotated[Int, Field(ge=0)]
    data: DataParams
    model: ModelParams
    train: TrainParams
    evaluate: EvaluateParams
    robustness: RobustnessParams
    plot: PlotParams

    @model_validator(mode="after")
    def _images_within_test_subset(self) -> Self:
        images, test_size = self.robustness.images, self.data.test_size
        if not 0 < images <= test_size:
            raise ValueError(f"robustness.images must be in [1, data.test_size = {test_size}] (they are drawn from "
                             f"the test subset), got {images}")
        return self


_PARAMS = TypeAdapter(Params)


def param_keys(schema: type = Params, prefix: str = "") -> frozenset[str]:
    """Every parameter's dotted key ("seed", "train.lr", ...): the schema's, which params.yaml must match exactly."""
    keys: set[str] = set()
    for name, hint in typing.get_type_hints(schema).items():
        keys |= param_keys(hint, f"{prefix}{name}.") if dataclasses.is_dataclass(hint) else {f"{prefix}{name}"}
    return frozenset(keys)


class ParamsLoader(yaml.SafeLoader):
    """YAML's safe loader reading numbers as DVC reads and writes params.yaml (YAML 1.2): `1e-3` is a float. To YAML
    1.1 it is text, and DVC's `-S train.lr=0.000001` writes `lr: 1e-06`."""


ParamsLoader.add_implicit_resolver("tag:yaml.org,2002:float",
                                   re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)[eE][-+]?[0-9]+$"),
                                   list("-+.0123456789"))


def read_yaml_text(text: str) -> Any:
    """A params file's, recipe's or search space's YAML, its numbers read as DVC reads them (`ParamsLoader`)."""
    return yaml.load(text, Loader=ParamsLoader)  # a safe loader


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate a params file; raise `UserError` naming the first problem found."""
    path = Path(path)
    try:
        raw = read_yaml_text(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path} not found: run from the repository root") from None
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise UserError(f"{path} is not UTF-8 text: {err.reason} at byte {err.start}") from None
    except yaml.YAMLError as err:
        raise UserError(f"{path} is not valid YAML: {_yaml_problem(err)}") from None
    return parse_params(raw if raw is not None else {}, source=str(path))


def parse_params(raw: Any, source: str = "params.yaml") -> Params:
    """Validate a params tree (as parsed from YAML); `source` names the file in the error for a missing key."""
    try:
        return _PARAMS.validate_python(raw)
    except ValidationError as err:
        raise UserError(_message(_first_problem(err.errors()), source)) from None


def _yaml_problem(err: yaml.YAMLError) -> str:
    """The YAML parser's complaint and where, on one line (its own message spans several)."""
    problem = getattr(err, "problem", None) or str(err)
    mark = getattr(err, "problem_mark", None)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else problem


# pydantic's error types, by how `_message` words them.
UNKNOWN_KEY = frozenset({"unexpected_keyword_argument", "invalid_key"})  # invalid_key: a key that is no string
TYPE_NAMES = {"int_type": "int", "float_type": "float", "bool_type": "bool", "string_type": "str",
              "literal_error": "str"}  # a choice that is no string: every choice is one
BOUND_SIGNS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
OUT_OF_BOUNDS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})


def _first_problem(errors: list[ErrorDetails]) -> ErrorDetails:
    """The error to report, in the order a reader fixes them: an unknown key first (a misspelt key is missing too,
    and its spelling is the better hint), then wrong structure or types, then values out of range (pydantic meets
    the rules across fields only once every field is valid)."""
    def rank(error: ErrorDetails) -> int:
        kind = error["type"]
        if kind in UNKNOWN_KEY:
            return 0
        bad_value = kind in OUT_OF_BOUNDS or kind == "value_error" or (
            kind == "literal_error" and isinstance(error["input"], str))  # a string, but not one of the choices
        return 2 if bad_value else 1
    return min(errors, key=rank)


def _message(error: ErrorDetails, source: str) -> str:
    """One of pydantic's errors as the line a user reads, naming the dotted key."""
    loc, kind, value = error["loc"], error["type"], error["input"]
    key = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
    if kind in UNKNOWN_KEY:
        return _unknown_key(loc)
    if kind == "missing":
        what = "section" if dataclasses.is_dataclass(_field(loc).annotation) else "parameter"
        return f"missing {what} '{key}' in {source}"
    if kind == "dataclass_type":
        return f"{key or 'params'} must be a mapping, got {value!r}"
    if kind == "list_type":
        return f"{key} must be a list, got {value!r}"
    if kind == "finite_number":
        return f"{key} must be a finite number, got {value}"
    if kind == "float_type" and isinstance(value, str) and _is_number(value):
        return f"{key} must be a number, got the text {value!r}: write it without quotes"
    if kind == "literal_error" and isinstance(value, str):
        return f"{key} '{value}' is not one of: {', '.join(typing.get_args(_field(loc).annotation))}"
    if kind in TYPE_NAMES:
        return f"{key} must be of type {TYPE_NAMES[kind]}, got {value!r}"
    if kind in OUT_OF_BOUNDS:
        return _out_of_bounds(key, _field(loc), value)
    if kind == "value_error":  # a validator's own line
        return str(error["ctx"]["error"])
    return f"{key}: {error['msg']}"  # pragma: no cover - an error type the schema does not raise


def _unknown_key(loc: tuple[int | str, ...]) -> str:
    *section, name = loc
    valid = list(_schema_at(section).__pydantic_fields__)
    prefix = "".join(f"{part}." for part in section)
    close = _suggest(str(name), valid)
    hint = f" (did you mean '{prefix}{close}'?)" if close else ""
    return f"unknown parameter '{prefix}{name}'{hint}; valid keys here: {', '.join(valid)}"


def _suggest(key: str, valid: list[str]) -> str | None:
    """The valid key a typo most likely meant: a close spelling, or the initials of its words (learning_rate: lr)."""
    close = difflib.get_close_matches(key, valid, n=1)
    if close:
        return close[0]
    initials = "".join(word[0] for word in key.split("_") if word)
    return initials if len(initials) > 1 and initials in valid else None


def _out_of_bounds(key: str, field: FieldInfo, value: Any) -> str:
    """`key must be in [0, 1) (hint), got 1.0`: the field's bounds, its description as the hint, and the value as
    the field holds it (an int given for a float reads as that float)."""
    bounds = {name: getattr(rule, name) for rule in field.metadata for name in BOUND_SIGNS
              if getattr(rule, name, None) is not None}
    if len(bounds) == 1:
        ((name, bound),) = bounds.items()
        allowed = f"{BOUND_SIGNS[name]} {bound}"
    else:
        low = f"({bounds['gt']}" if "gt" in bounds else f"[{bounds['ge']}"
        high = f"{bounds['lt']})" if "lt" in bounds else f"{bounds['le']}]"
        allowed = f"in {low}, {high}"
    hint = f" {field.description}" if field.description else ""
    return f"{key} must be {allowed}{hint}, got {float(value) if field.annotation is float else value}"


def _schema_at(section: list[int | str] | tuple[int | str, ...]) -> Any:
    """The dataclass of the section at this path of keys (the whole schema for none)."""
    schema: Any = Params
    for name in section:
        schema = schema.__pydantic_fields__[name].annotation
    return schema


def _field(loc: tuple[int | str, ...]) -> FieldInfo:
    return _schema_at(loc[:-1]).__pydantic_fields__[loc[-1]]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
