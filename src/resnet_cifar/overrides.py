"""Dotted-key overrides of params.yaml ({"train.lr": 0.2}): read from a recipe file, applied and validated, and
written as the `-S key=value` arguments of `dvc exp run`. Recipes, the search's trials and the benchmarks all
express a setting this way."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import yaml

from .config import Params, parse_params, read_yaml_text
from .errors import UserError, one_line


def read_recipe(path: str | Path) -> dict[str, Any]:
    """The recipe's overrides as flat dotted keys, e.g. {"train.lr": 0.2}."""
    try:
        raw = read_yaml_text(Path(path).read_text()) or {}
    except UnicodeDecodeError as err:
        raise UserError(f"recipe {path} is not UTF-8 text: {err.reason} at byte {err.start}") from None
    except (OSError, yaml.YAMLError) as err:
        raise UserError(f"cannot read recipe {path}: {one_line(str(err))}") from None
    if not isinstance(raw, dict):
        raise UserError(f"recipe {path} must be a mapping of params.yaml sections, got {type(raw).__name__}")
    return dict(_flatten(raw))


def _flatten(tree: dict, prefix: str = ""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def apply_overrides(base: Params, overrides: dict[str, Any]) -> Params:
    """`base` with dotted-key overrides applied, validated like params.yaml itself."""
    tree = dataclasses.asdict(base)
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return parse_params(tree)


def as_set_arguments(overrides: dict[str, Any]) -> list[str]:
    """`-S key=value` arguments with values free of spaces, so a shell can split them safely, in the override
    grammar DVC parses them with (Hydra's): a string is quoted, so that a URL's `~` parses and an MD5 of digits
    stays text."""
    def text(value: Any) -> str:
        if isinstance(value, str):
            return "'" + value.replace("'", "\\'") + "'"
        return json.dumps(value, separators=(",", ":"))
    return [f"-S {key}={text(value)}" for key, value in overrides.items()]
