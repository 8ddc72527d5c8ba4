"""Saving and loading model checkpoints: atomic writes, and loads that never execute code from the file."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .atomic import atomic_path
from .errors import UserError
from .models import ResNet, build_model


def save_checkpoint(path: str | Path, model: ResNet, arch: str, classes: tuple[str, ...], **extra: Any) -> None:
    state = {"arch": arch, "classes": list(classes), "model": model.state_dict(), **extra}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"checkpoint {path} not found; run `dvc repro train`") from None
    except Exception as err:  # weights_only refuses pickled code; a torn file fails to unzip
        raise UserError(f"cannot load checkpoint {path}: {err}") from err


def load_model(path: str | Path, device: torch.device | str = "cpu") -> tuple[ResNet, dict[str, Any]]:
    """The model stored in a checkpoint, in eval mode on `device`, and the checkpoint's metadata."""
    state = read_checkpoint(path)
    try:
        model = build_model(state["arch"], num_classes=len(state["classes"]))
        model.load_state_dict(state["model"])
    except (KeyError, ValueError, RuntimeError) as err:
        raise UserError(f"checkpoint {path} does not hold a model this package can build: {err}") from err
    model.to(device).eval()
    return model, {k: v for k, v in state.items() if k != "model"}
