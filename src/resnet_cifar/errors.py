"""Errors that a user can fix, and the one place that turns them into a short message and exit code."""
from __future__ import annotations

import errno
import functools
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NoReturn

DEBUG_ENV = "RESNET_CIFAR_DEBUG"
# A full or read-only disk is the environment's fault whoever hit it: the package's own writers say so
# (resnet_cifar.atomic), but libraries that write for a stage (DVCLive's metrics, for one) raise a bare OSError.
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})
WRITE_HINT = "check that its folder is writable and the disk has space"


class UserError(Exception):
    """A problem with the user's input or environment: reported as one line, never as a traceback."""


def require_inputs(paths: Iterable[str | Path], stage: str) -> None:
    """Raise `UserError` naming every one of `paths` that is missing, before a stage run by hand (not by
    `dvc repro`, which runs what is missing first) writes anything."""
    missing = [str(p) for p in paths if not Path(p).is_file()]
    if missing:
        raise UserError(f"missing {', '.join(missing)}; run `dvc repro {stage}` first")


def one_line(message: str) -> str:
    """`message` on a single line: messages quoted from libraries (YAML, torch) may span several."""
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


def _exit_with(message: str) -> NoReturn:
    print(f"error: {one_line(message)}", file=sys.stderr)
    sys.exit(2)


def report_user_errors(main: Callable[[], None]) -> Callable[[], None]:
    """Wrap a stage's `main` so a `UserError`, or a full or read-only disk, prints `error: ...` on stderr and
    exits with status 2.

    Set RESNET_CIFAR_DEBUG=1 to get the full traceback instead.
    """

    @functools.wraps(main)
    def wrapper() -> None:
        try:
            main()
        except UserError as err:
            if os.environ.get(DEBUG_ENV):
                raise
            _exit_with(str(err))
        except OSError as err:
            if err.errno not in DISK_ERRNOS or os.environ.get(DEBUG_ENV):
                raise
            _exit_with(f"cannot write {err.filename or 'an output file'}: {err.strerror}; {WRITE_HINT}")

    return wrapper
