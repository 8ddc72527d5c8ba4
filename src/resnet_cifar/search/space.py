"""The search space: a YAML file of params.yaml keys, each a range or a list of choices.

    train.lr: {low: 0.05, high: 1.0, log: true}   # a float range (log scale): train.lr is a float
    train.epochs: {low: 1, high: 4}               # an int range: train.epochs is an int (or say `type: int`)
    train.flip: {choices: [none, random]}         # categorical
    pruner: median                                # optional: median (the default), hyperband or none

The space is checked whole before any trial runs, and any file gives either a space or one `UserError` line naming
the file or the key and the problem: a file that is not UTF-8 text or not YAML, a key given twice, a key params.yaml
lacks, a malformed range or choices, an end that is not a finite number. Then each range's two ends, as the trial
would get them (ints for an int range, floats for a float one), and each choice go through params.yaml's own checks
(`apply_overrides` on the project's params, as a `-S key=value` would), so a value the config refuses fails here,
not trial after trial. Ends alone cannot see every rule across fields: an end is admitted when the project's other
values, or some combination of the other dimensions' ends and choices, admit it, so a trial that draws values which
break a rule only together (`train.warmup_epochs` past the `train.epochs` drawn beside it) still fails as a trial.
"""
from __future__ import annotations

import functools
import itertools
import math
import reprlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import yaml

from ..config import Params, ParamsLoader, load_params, param_keys
from ..errors import UserError, one_line
from ..overrides import apply_overrides
from .pruning import DEFAULT_PRUNER, PRUNERS

RANGE_KEYS = {"low", "high", "log", "type"}
TYPES = ("float", "int")
MAX_INT = 2**53  # an int range's ends at most this far from 0: Optuna holds a drawn int as a float
PRUNER_KEY = "pruner"  # the one key of a space file that is no params.yaml key: search/pruning.py
MAX_COMBINATIONS = 1000  # of the other dimensions' values tried beside a refused end (`refusal`)


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


def shown(value: Any) -> str:
    """`value` as a message quotes it: its repr, cut short (a YAML alias can make a small file a huge value)."""
    short = reprlib.Repr()
    short.maxstring = short.maxother = short.maxlong = 40
    short.maxlist = short.maxdict = short.maxlevel = 4
    return short.repr(value)


class SpaceLoader(ParamsLoader):
    """params.yaml's loader (numbers read as DVC reads them), refusing a key given twice in one mapping (PyYAML
    keeps the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key in (key for key, _ in node.value if isinstance(key, yaml.ScalarNode)):
            if (key.tag, key.value) in seen:
                raise yaml.constructor.ConstructorError(problem=f"{key.value!r} is given twice",
                                                        problem_mark=key.start_mark)
            seen.add((key.tag, key.value))
        return super().construct_mapping(node, deep)


def yaml_problem(err: yaml.YAMLError) -> str:
    """The parser's complaint and where, on one line."""
    mark = getattr(err, "problem_mark", None)
    if mark is None:
        return one_line(str(err))
    return f"{one_line(err.problem or '')} at line {mark.line + 1}, column {mark.column + 1}"


def read_yaml(path: Path, what: str) -> Any:
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as err:
        raise UserError(f"cannot read {what} {path}: {err.strerror or err}") from err
    except UnicodeDecodeError as err:
        raise UserError(f"{what} {path} is not UTF-8 text: {err.reason} at byte {err.start}") from err
    try:
        return yaml.load(text, Loader=SpaceLoader)  # a safe loader
    except yaml.YAMLError as err:
        raise UserError(f"{what} {path} is not valid YAML: {yaml_problem(err)}") from err
    except RecursionError as err:
        raise UserError(f"{what} {path} is nested too deeply to read") from err
    except Exception as err:  # YAML's constructors raise plain errors: a bad !!timestamp, an int of 5000 digits
        raise UserError(f"{what} {path} is not valid YAML: a value it cannot read ({one_line(str(err))})") from err


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def draws_ints(kind: str | None, current: Any, low: Any, high: Any) -> bool:
    """Whether a range draws ints: its `type` where given, else the parameter's own (params.yaml's value is an int
    or a float); for a parameter that is no number, which the params checks then refuse, when both ends are ints."""
    if kind is not None:
        return kind == "int"
    if is_number(current):
        return isinstance(current, int)
    return isinstance(low, int) and isinstance(high, int)


def int_ends(key: str, low: int | float, high: int | float) -> tuple[int, int]:
    if not all(isinstance(v, int) or v.is_integer() for v in (low, high)):
        raise UserError(f"{key}: an int range needs whole-number ends, got {shown(low)} and {shown(high)}")
    ends = int(low), int(high)
    if any(abs(v) > MAX_INT for v in ends):
        raise UserError(f"{key}: an int range's ends must lie within ±2**53 (Optuna holds the values drawn as "
                        f"floats), got {shown(low)} and {shown(high)}")
    return ends


def float_ends(key: str, low: int | float, high: int | float) -> tuple[float, float]:
    try:
        ends = float(low), float(high)
    except OverflowError:  # an int beyond a float's reach
        ends = math.inf, math.inf
    if not all(math.isfinite(v) for v in (*ends, ends[1] - ends[0])):
        raise UserError(f"{key}: low and high must be finite numbers, and so must high - low, got {shown(low)} "
                        f"and {shown(high)}")
    return ends


def parse_range(key: str, spec: dict, current: Any) -> Range:
    """The range `spec` of `key`, whose value in params.yaml is `current` (its type decides an int range's)."""
    unknown = set(spec) - RANGE_KEYS
    if unknown or not {"low", "high"} <= set(spec):
        raise UserError(f"{key}: a range needs low and high (and optionally log, type), got "
                        f"{shown(sorted(map(str, spec)))}")
    low, high, log, kind = spec["low"], spec["high"], spec.get("log", False), spec.get("type")
    if not (is_number(low) and is_number(high)):
        raise UserError(f"{key}: low and high must be numbers, got {shown(low)} and {shown(high)}")
    if kind not in (None, *TYPES) or not isinstance(log, bool):
        raise UserError(f"{key}: type must be one of {', '.join(TYPES)} and log true or false")
    integer = draws_ints(kind, current, low, high)
    ends = int_ends(key, low, high) if integer else float_ends(key, low, high)
    if ends[0] >= ends[1]:
        raise UserError(f"{key}: low ({shown(low)}) must be below high ({shown(high)})")
    if log and ends[0] <= 0:
        raise UserError(f"{key}: a log range needs low > 0, got {shown(low)}")
    return Range(low=ends[0], high=ends[1], log=log, integer=integer)


def parse_dimension(key: str, spec: Any, current: Any) -> Dimension:
    if not isinstance(spec, dict):
        raise UserError(f"{key}: expected {{low: .., high: ..}} or {{choices: [...]}}, got {shown(spec)}")
    if "choices" not in spec:
        return parse_range(key, spec, current)
    choices = spec["choices"]
    if set(spec) != {"choices"} or not isinstance(choices, list) or not choices:
        raise UserError(f"{key}: choices must be a non-empty list and the only entry, got {shown(spec)}")
    if not all(c is None or isinstance(c, bool | int | float | str) for c in choices):
        raise UserError(f"{key}: each choice must be a number, text, true/false or null, got {shown(choices)}")
    return Choices(values=tuple(choices))


def values_to_check(dim: Dimension) -> list[tuple[str, Any]]:
    """What a trial can draw that the params checks must admit, each with its name in a message."""
    if isinstance(dim, Choices):
        return [("choice", value) for value in dim.values]
    return [("low", dim.low), ("high", dim.high)]


def refusal(params: Params, key: str, value: Any, others: dict[str, list[Any]]) -> str | None:
    """The params checks' error for `key: value` beside the project's other values; None if they admit it, or if
    some combination of the other dimensions' values (`others`: each one's ends or choices) does."""
    try:
        apply_overrides(params, {key: value})
        return None
    except UserError as err:
        error = one_line(str(err))
    for combination in itertools.islice(itertools.product(*others.values()), MAX_COMBINATIONS):
        try:
            apply_overrides(params, {key: value, **dict(zip(others, combination))})
            return None
        except UserError:
            continue
    return error


def check_values(space: dict[str, Dimension], params: Params) -> None:
    """Each range's ends and each choice through params.yaml's own checks (see the module's docstring)."""
    drawn = {key: [value for _, value in values_to_check(dim)] for key, dim in space.items()}
    for key, dim in space.items():
        others = {other: values for other, values in drawn.items() if other != key}
        for name, value in values_to_check(dim):
            error = refusal(params, key, value, others)
            if error:
                raise UserError(f"{key}: {name} {shown(value)} fails the params checks: {error}")


def parse_space(raw: Any, params: Params, source: str) -> dict[str, Dimension]:
    """The space in `raw` (the YAML file's content), each key one of params.yaml's and each value one that
    `params` (the project's) admits."""
    if isinstance(raw, dict):
        pruner_of(raw, source)
        raw = {key: spec for key, spec in raw.items() if key != PRUNER_KEY}
    if not isinstance(raw, dict) or not raw:
        raise UserError(f"search space {source} is empty or not a mapping: give at least one params.yaml key with "
                        "a range or choices")
    keys = param_keys()
    unknown = sorted((key for key in raw if key not in keys), key=str)
    if unknown:
        named = ", ".join(key if isinstance(key, str) and key.isprintable() else shown(key) for key in unknown)
        raise UserError(f"search space {source}: {named} not in params.yaml (use dotted keys such as train.lr)")
    space = {key: parse_dimension(key, spec, functools.reduce(getattr, key.split("."), params))
             for key, spec in raw.items()}
    check_values(space, params)
    return space


def pruner_of(raw: Any, source: str) -> str:
    """The space file's pruner (search/pruning.py), DEFAULT_PRUNER where it names none."""
    name = raw.get(PRUNER_KEY, DEFAULT_PRUNER) if isinstance(raw, dict) else DEFAULT_PRUNER
    if name not in PRUNERS:
        raise UserError(f"search space {source}: pruner must be one of {', '.join(PRUNERS)}, got {shown(name)}")
    return name


def load_pruner(path: Path) -> str:
    """The pruner named in the space file at `path`."""
    return pruner_of(read_yaml(path, "search space"), str(path))


def load_space(path: Path, params: Params | None = None) -> dict[str, Dimension]:
    """The space in the file at `path`, checked against `params`: by default the project's, params.yaml in the
    working directory (the search runs from the project's root)."""
    raw = read_yaml(path, "search space")
    return parse_space(raw, params or load_params(), str(path))


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
