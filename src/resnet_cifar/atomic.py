"""Atomic file writes: write to a temporary file beside the target, then rename over it.

A kill at any moment leaves either the old file or the new one, never a torn one.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import WRITE_HINT, UserError


def write_error(target: str | Path, err: OSError) -> UserError:
    """The user-facing error for a failed write: which file, why, and what to check."""
    nearest = next((p for p in Path(target).parents if p.exists()), None)
    if nearest is not None and not nearest.is_dir():  # mkdir and open report this as "File exists", "Not a directory"
        reason = f"{nearest} is a file, not a folder"
    else:
        reason = err.strerror or str(err)
    return UserError(f"cannot write {target}: {reason}; {WRITE_HINT}")


def _plain_file_mode() -> int:
    """The permissions a plain `open(path, "w")` gives: mkstemp's 0600 would hide outputs from other users."""
    umask = os.umask(0)  # the only way to read the umask is to set it; done once, at import, before any threads
    os.umask(umask)
    return 0o666 & ~umask


FILE_MODE = _plain_file_mode()


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it replaces `target`, on failure it is removed.

    Any `OSError` (disk full, read-only or missing folder) becomes a `UserError` naming `target`.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as err:
        raise write_error(target, err) from err
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, FILE_MODE)
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, target)
    except OSError as err:
        tmp_path.unlink(missing_ok=True)
        raise write_error(target, err) from err
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_json(target: str | Path, data: Any) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def write_text(target: str | Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text)


def write_npz(target: str | Path, *, compressed: bool = False, **arrays: Any) -> None:
    save = np.savez_compressed if compressed else np.savez
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as f:  # a file object, so numpy does not append ".npz" to the temporary name
            save(f, **arrays)
