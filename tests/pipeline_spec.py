"""dvc.yaml read back, for the tests that hold code and paths to it."""
from __future__ import annotations

from pathlib import Path, PurePosixPath

import yaml

from committed import REPO

CODE_FOLDERS = ("src", "stages")


def load_pipeline(root: Path = REPO) -> dict:
    return yaml.safe_load((root / "dvc.yaml").read_text())


def covers(dep: str, path: str) -> bool:
    """Whether dvc.yaml's `dep` (a file or a folder) holds `path`."""
    dep_parts, parts = PurePosixPath(dep).parts, PurePosixPath(path).parts
    return parts[:len(dep_parts)] == dep_parts


def is_code_dep(dep: str) -> bool:
    return any(covers(folder, dep) for folder in CODE_FOLDERS)
