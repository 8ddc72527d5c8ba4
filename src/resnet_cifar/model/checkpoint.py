"""Saving and loading model checkpoints: atomic writes, and loads that never execute code from the file."""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_path
from ..datasets import IMAGE_SIDE
from ..errors import UserError, one_line
from .resnet import ResNet, build_model


def save_checkpoint(path: str | Path, model: ResNet, arch: str, classes: tuple[str, ...], **extra: Any) -> None:
    state = {"arch": arch, "classes": list(classes), "image_size": model.image_size, "model": model.state_dict(),
             **extra}
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        try:
            torch.save(state, f)  # to a Python file, so that a failed write leaves its OSError as the context
        except RuntimeError as err:  # torch reports a failed write (disk full, quota) as RuntimeError
            if isinstance(err.__context__, OSError):
                raise err.__context__ from err
            raise OSError(f"torch.save failed ({one_line(str(err))})") from err


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"checkpoint {path} not found; run `dvc repro train`") from None
    except pickle.UnpicklingError as err:  # weights_only refused it; torch's own advice (trust the file) is not ours
        named = next((line.strip() for line in str(err).splitlines() if "GLOBAL" in line), None)
        what = f"it refers to code ({named})" if named else "it is not a file of tensors and plain data"
        raise UserError(f"refusing to load checkpoint {path}: {what}; checkpoints are loaded as weights only, "
                        f"never running code") from err
    except Exception as err:  # a torn or foreign file fails to unzip
        raise UserError(f"cannot load checkpoint {path} (truncated or not a checkpoint?): "
                        f"{type(err).__name__}: {one_line(str(err))}") from err


def _weights_mismatch(expected: dict[str, torch.Tensor], found: dict[str, Any]) -> str | None:
    """What keeps `found` from loading into a model whose state dict is `expected`, in words; None if nothing."""
    missing = sorted(expected.keys() - found.keys())
    unexpected = sorted(found.keys() - expected.keys())
    reshaped = sorted(k for k in expected.keys() & found.keys()
                      if tuple(getattr(found[k], "shape", ())) != tuple(expected[k].shape))
    if not (missing or unexpected or reshaped):
        return None
    if reshaped:
        k = reshaped[0]
        example = f"{k} is {list(getattr(found[k], 'shape', []))}, expected {list(expected[k].shape)}"
    else:
        example = f"'{(missing or unexpected)[0]}' is {'missing' if missing else 'unexpected'}"
    return (f"{len(missing)} missing, {len(unexpected)} unexpected and {len(reshaped)} wrongly shaped tensors "
            f"(e.g. {example})")


def load_model(path: str | Path, device: torch.device | str = "cpu") -> tuple[ResNet, dict[str, Any]]:
    """The model stored in a checkpoint, in eval mode on `device`, and the checkpoint's metadata.

    The checkpoint records its architecture and classes; weights that do not fit them (another architecture or
    class count) raise `UserError`.
    """
    state = read_checkpoint(path)
    if not isinstance(state, dict) or not {"arch", "classes", "model"} <= state.keys() \
            or not isinstance(state["model"], dict):
        raise UserError(f"{path} is not a checkpoint of this pipeline (it needs 'arch', 'classes' and 'model' "
                        f"entries); run `dvc repro train`")
    arch, classes = state["arch"], state["classes"]
    try:
        model = build_model(arch, num_classes=len(classes), image_size=state.get("image_size", IMAGE_SIDE))
    except (ValueError, TypeError) as err:
        raise UserError(f"checkpoint {path}: {err}") from err
    mismatch = _weights_mismatch(model.state_dict(), state["model"])
    if mismatch:
        raise UserError(f"checkpoint {path} says {arch} with {len(classes)} classes, but its weights are for "
                        f"another model: {mismatch}")
    model.load_state_dict(state["model"])
    model.to(device).eval()
    return model, {k: v for k, v in state.items() if k != "model"}
