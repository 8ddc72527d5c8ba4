"""Resumable training: the full trainer state after each epoch, tied to a fingerprint of what produced it.

A resume file is used only when its fingerprint matches the current params, data and training code, and it was made
on the same kind of device at the same precision, so an interrupted run continues exactly where it stopped and a
changed experiment never picks up stale weights. A state from another device kind or precision starts the run over:
its numbers would round differently from here on, and the result would match neither machine's uninterrupted run.

`Resume` is a run's whole resume state: the fingerprint, the device kind and precision, the local file, and with
train.remote_resume its copy on the DVC remote (`remote_resume.RemoteResume`, with the claim rule). The training run
loads it once, saves it after each epoch and finishes it (removes it) when training completes; rank 0 alone touches
it and sends what it loads to the other ranks.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..atomic import atomic_path
from ..config import Params
from ..data.dataset import Split
from .distributed import World, main_rank_only
from .remote_resume import RemoteResume

if TYPE_CHECKING:
    from .trainer import Trainer

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


class Resume:
    """One run's resume state: the file `path`, used only for this `fingerprint` and `made_on`, and optionally its copy
    on a DVC remote. Rank 0 of `world` alone reads and writes it (`main_rank_only`); every rank receives what it
    loads."""

    def __init__(self, path: Path, fingerprint: str, made_on: MadeOn, remote: RemoteResume | None = None,
                 world: World = World()) -> None:
        self.path, self.fingerprint, self.made_on, self.remote, self.world = path, fingerprint, made_on, remote, world

    @classmethod
    def of_run(cls, params: Params, splits: list[Split], trainer: Trainer, path: Path, project: Path | None) -> Resume:
        """The resume state of `trainer`'s run of `params` on `splits`, kept at `path` and, where
        params.train.remote_resume asks for it, on the default remote of the DVC `project` (a benchmark has none)."""
        made_on = {"device": trainer.train_data.device.type, "precision": trainer.precision}
        resume = cls(path, training_fingerprint(params, splits), made_on, world=trainer.world)
        if params.train.remote_resume and project is not None:
            resume.use_remote(project)
        return resume

    @main_rank_only
    def use_remote(self, project: Path) -> None:
        """Keep a copy on the default remote of the DVC project at `project`, where it has one (else one line says
        so) and it opens within its time limit (else one warning)."""
        self.remote = RemoteResume.of_project(project, self.fingerprint)

    def load(self) -> dict[str, Any] | None:
        """The trainer state an interrupted run of these params, data and code saved, if any: here, or else claimed
        from the DVC remote (it then lands in `path`). Rank 0 reads it and sends it to every rank."""
        return self.world.from_main(self._read)

    def _read(self) -> dict[str, Any] | None:
        state = load_resume_state(self.path, self.fingerprint, self.made_on)
        if state is None and self.remote is not None and self.remote.claim(self.path):
            state = load_resume_state(self.path, self.fingerprint, self.made_on, name=self.remote.claim_key)
            if state is not None:
                print(f"resume state taken from the DVC remote: {self.remote.claim_key}")
        return state

    @main_rank_only
    def save(self, trainer_state: dict[str, Any]) -> None:
        """The whole trainer state after an epoch (`Trainer.state_dict`): a killed run continues from there. The
        remote's copy is stored in the background."""
        save_resume_state(self.path, trainer_state, self.fingerprint, self.made_on)
        if self.remote is not None:
            self.remote.upload(self.path)

    @main_rank_only
    def finish(self) -> None:
        """The run completed: nothing to resume, here or on the remote (whose removal waits a bounded time)."""
        if self.remote is not None:
            self.remote.finish()
        self.path.unlink(missing_ok=True)
