"""Resumable training: the full trainer state after each epoch, tied to a fingerprint of what produced it.

A resume file is used only when its fingerprint matches the current params, data and training code, so an
interrupted run continues exactly where it stopped and a changed experiment never picks up stale weights.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import atomic_path
from ..config import Params
from ..data.dataset import Split

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # src/resnet_cifar


def _file_digest(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def training_fingerprint(params: Params, splits: list[Split]) -> str:
    """Hash of everything that determines the trained weights: params, the training and validation images and
    labels, and the package's code."""
    relevant = {"seed": params.seed, "model": dataclasses.asdict(params.model),
                "train": dataclasses.asdict(params.train), "eval_batch_size": params.evaluate.batch_size}
    digest = hashlib.sha256(json.dumps(relevant, sort_keys=True).encode())
    for split in splits:
        for array in (split.images, split.labels):
            digest.update(f"{array.dtype}{array.shape}".encode())
            digest.update(memoryview(np.ascontiguousarray(array)).cast("B"))
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(f"{path.relative_to(PACKAGE_DIR)}:{_file_digest(path)}".encode())
    return digest.hexdigest()


def save_resume_state(path: Path, trainer_state: dict[str, Any], fingerprint: str) -> None:
    with atomic_path(path) as tmp:
        torch.save({"fingerprint": fingerprint, "trainer": trainer_state}, tmp)


def load_resume_state(path: Path, fingerprint: str) -> dict[str, Any] | None:
    """The saved trainer state if `path` holds one for this exact fingerprint, else None (and the file is removed)."""
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("fingerprint") == fingerprint:
            return state["trainer"]
        print(f"ignoring {path}: it was written for other params, data or code")
    except Exception as err:  # a resume file is a cache: an unreadable one is discarded, not fatal
        print(f"ignoring unreadable {path}: {err}")
    path.unlink()
    return None
