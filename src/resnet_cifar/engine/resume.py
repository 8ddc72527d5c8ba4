"""Resumable training: the full trainer state after each epoch, tied to a fingerprint of what produced it.

A resume file is used only when its fingerprint matches the current params, data and training code, and it was made
on the same kind of device at the same precision, so an interrupted run continues exactly where it stopped and a
changed experiment never picks up stale weights. A state from another device kind or precision starts the run over:
its numbers would round differently from here on, and the result would match neither machine's uninterrupted run.
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
# The device kind ("cpu", "cuda") and precision a state was trained with: {"device": ..., "precision": ...}.
MadeOn = dict[str, str]


def _file_digest(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def training_fingerprint(params: Params, splits: list[Split]) -> str:
    """Hash of everything that determines the trained weights: params, the training and validation images and
    labels, and the package's code."""
    # train.remote_resume says where the state is kept, not what is trained: switching it keeps the state usable.
    train = {key: value for key, value in dataclasses.asdict(params.train).items() if key != "remote_resume"}
    relevant = {"seed": params.seed, "model": dataclasses.asdict(params.model), "train": train,
                "eval_batch_size": params.evaluate.batch_size}
    digest = hashlib.sha256(json.dumps(relevant, sort_keys=True).encode())
    for split in splits:
        for array in (split.images, split.labels):
            digest.update(f"{array.dtype}{array.shape}".encode())
            digest.update(memoryview(np.ascontiguousarray(array)).cast("B"))
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(f"{path.relative_to(PACKAGE_DIR)}:{_file_digest(path)}".encode())
    return digest.hexdigest()


def save_resume_state(path: Path, trainer_state: dict[str, Any], fingerprint: str, made_on: MadeOn) -> None:
    with atomic_path(path) as tmp:
        torch.save({"fingerprint": fingerprint, "made_on": made_on, "trainer": trainer_state}, tmp)


def load_resume_state(path: Path, fingerprint: str, made_on: MadeOn, name: str | None = None) -> dict[str, Any] | None:
    """The saved trainer state if `path` holds one for this exact fingerprint, device kind and precision, else None
    (and the file is removed). `name` is what the one line about an ignored state calls it (default: `path`)."""
    if not path.exists():
        return None
    name = name or str(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("fingerprint") != fingerprint:
            print(f"ignoring {name}: it was written for other params, data or code")
        elif state.get("made_on") != made_on:  # the same params on other hardware round differently: not exact
            print(f"ignoring {name}: it was made with {describe_made_on(state.get('made_on'))}, this run trains with "
                  f"{describe_made_on(made_on)}; starting over")
        else:
            return state["trainer"]
    except Exception as err:  # a resume file is a cache: an unreadable one is discarded, not fatal
        print(f"ignoring unreadable {name}: {err}")
    path.unlink()
    return None


def describe_made_on(made_on: MadeOn | None) -> str:
    return f"{made_on['precision']} on {made_on['device']}" if made_on else "an unknown precision and device"
