"""The search space: a YAML file of params.yaml keys, each a range or a list of choices.

    train.lr: {low: 0.05, high: 1.0, log: true}   # a float range (log scale)
    train.epochs: {low: 1, high: 4}               # an int range: both ends ints, or `type: int`
    train.flip: {choices: [none, random]}         # categorical

A malformed file is a `UserError` naming the key and the problem, raised before any trial runs.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import yaml

from ..config import param_keys
from ..errors import UserError

RANGE_KEYS = {"low", "high", "log", "type"}
TYPES = ("float", "int")


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    log: bool = False
    integer: bool = False


@dataclass(frozen=True)
class Choices:
    values: tuple[Any, ...]


Dimension = Range | Choices


def read_yaml(path: Path, what: str) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except OSError as err:
        raise UserError(f"cannot read {what} {path}: {err.strerror or err}") from err
    except yaml.YAMLError as err:
        raise UserError(f"{what} {path} is not valid YAML: {err}") from err


def parse_range(key: str, spec: dict) -> Range:
    unknown = set(spec) - RANGE_KEYS
    if unknown or not {"low", "high"} <= set(spec):
        raise UserError(f"{key}: a range needs low and high (and optionally log, type), got {sorted(spec)}")
    low, high, log, kind = spec["low"], spec["high"], spec.get("log", False), spec.get("type")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high)):
        raise UserError(f"{key}: low and high must be numbers, got {low!r} and {high!r}")
    if kind not in (None, *TYPES) or not isinstance(log, bool):
        raise UserError(f"{key}: type must be one of {', '.join(TYPES)} and log true or false")
    if low >= high:
        raise UserError(f"{key}: low ({low}) must be below high ({high})")
    if log and low <= 0:
        raise UserError(f"{key}: a log range needs low > 0, got {low}")
    integer = kind == "int" or (kind is None and isinstance(low, int) and isinstance(high, int))
    if integer and (low != int(low) or high != int(high)):
        raise UserError(f"{key}: an int range needs whole-number ends, got {low} and {high}")
    return Range(low=low, high=high, log=log, integer=integer)


def parse_dimension(key: str, spec: Any) -> Dimension:
    if not isinstance(spec, dict):
        raise UserError(f"{key}: expected {{low: .., high: ..}} or {{choices: [...]}}, got {spec!r}")
    if "choices" not in spec:
        return parse_range(key, spec)
    choices = spec["choices"]
    if set(spec) != {"choices"} or not isinstance(choices, list) or not choices:
        raise UserError(f"{key}: choices must be a non-empty list and the only entry, got {spec!r}")
    if not all(c is None or isinstance(c, bool | int | float | str) for c in choices):
        raise UserError(f"{key}: each choice must be a number, text, true/false or null, got {choices!r}")
    return Choices(values=tuple(choices))


def parse_space(raw: Any, params_keys: set[str], source: str) -> dict[str, Dimension]:
    """The space in `raw` (the YAML file's content), each key checked against params.yaml's keys."""
    if not isinstance(raw, dict) or not raw:
        raise UserError(f"search space {source} is empty: give at least one params.yaml key with a range or choices")
    unknown = sorted(set(raw) - params_keys)
    if unknown:
        raise UserError(f"search space {source}: {', '.join(unknown)} not in params.yaml (use dotted keys such "
                        "as train.lr)")
    return {key: parse_dimension(key, spec) for key, spec in raw.items()}


def load_space(path: Path) -> dict[str, Dimension]:
    return parse_space(read_yaml(path, "search space"), param_keys(), str(path))


def suggest(trial: optuna.Trial, space: dict[str, Dimension]) -> dict[str, Any]:
    """The trial's value of each key, drawn by the study's sampler."""
    values = {}
    for key, dim in space.items():
        if isinstance(dim, Choices):
            values[key] = trial.suggest_categorical(key, list(dim.values))
        elif dim.integer:
            values[key] = trial.suggest_int(key, int(dim.low), int(dim.high), log=dim.log)
        else:
            values[key] = trial.suggest_float(key, float(dim.low), float(dim.high), log=dim.log)
    return values
