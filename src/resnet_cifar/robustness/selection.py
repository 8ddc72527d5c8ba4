"""Which corruptions the robustness report covers (`robustness.corruptions` names corruptions or groups of them),
and how stage `corrupt` lays out its files (a key per severity, a record of what it made).

A group is `all` (the 19), `standard` (the 15 of CIFAR-10-C's benchmark) or a family (noise, blur, weather, digital,
extra). The chosen set is always in the canonical order of `CORRUPTIONS`, whatever order the list names them in,
so that the outputs do not depend on how a user spelled the same set.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .names import CORRUPTIONS, FAMILY, STANDARD

GROUPS: dict[str, tuple[str, ...]] = {
    "all": CORRUPTIONS,
    "standard": STANDARD,
    **{family: tuple(n for n in CORRUPTIONS if FAMILY[n] == family) for family in dict.fromkeys(FAMILY.values())},
}


def expand_corruptions(entries: Iterable[str]) -> tuple[str, ...]:
    """The corruptions that `entries` (names and group names) stand for, in `CORRUPTIONS` order, each once.

    Raises ValueError naming the first entry that is neither, with the closest valid spelling if there is one.
    """
    chosen: set[str] = set()
    for entry in entries:
        if entry in GROUPS:
            chosen.update(GROUPS[entry])
        elif entry in FAMILY:
            chosen.add(entry)
        else:
            close = _closest(entry)
            hint = f" (did you mean '{close}'?)" if close else ""
            raise ValueError(f"'{entry}' is not a corruption or group{hint}; groups: {', '.join(GROUPS)}; "
                             f"corruptions: {', '.join(CORRUPTIONS)}")
    return tuple(n for n in CORRUPTIONS if n in chosen)


def _closest(entry: str) -> str | None:
    """The valid name `entry` most likely meant: a close spelling, or the one name it is part of (jpeg)."""
    valid = [*GROUPS, *CORRUPTIONS]
    close = difflib.get_close_matches(entry, valid, n=1)
    if close:
        return close[0]
    containing = [name for name in valid if entry and entry.lower() in name]
    return containing[0] if len(containing) == 1 else None


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
