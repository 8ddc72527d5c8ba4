"""How stage `corrupt` lays out its files: a file per corruption with a key per severity, and a record, beside the
clean images, of which corruptions and severities it made (`corruption_table.expand_corruptions` says which those
are)."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np


def severity_key(severity: int) -> str:
    """The key of one severity's images in a corruption's file (`corruption_file`)."""
    return f"severity_{severity}"


def corruption_file(folder: Path, name: str) -> Path:
    """The file of stage `corrupt`'s folder that holds corruption `name`'s images, a key per severity."""
    return folder / f"{name}.npz"


def read_corrupted(folder: Path, name: str, severities: Iterable[int]) -> list[np.ndarray]:
    """Corruption `name`'s images at each of `severities`, as stage `corrupt` wrote them in `folder`."""
    with np.load(corruption_file(folder, name), allow_pickle=False) as f:
        return [f[severity_key(severity)] for severity in severities]


def read_made(clean_file: Path) -> tuple[list[str], list[int]]:
    """The corruptions and severities stage `corrupt` made, as it recorded them beside the clean images."""
    with np.load(clean_file, allow_pickle=False) as f:
        return [str(n) for n in f["corruptions"]], [int(s) for s in f["severities"]]
