"""Errors that a user can fix, and the one place that turns them into a short message and exit code."""
from __future__ import annotations

import functools
import os
import sys
from typing import Callable

DEBUG_ENV = "RESNET_CIFAR_DEBUG"


class UserError(Exception):
    """A problem with the user's input or environment: reported as one line, never as a traceback."""


def one_line(message: str) -> str:
    """`message` on a single line: messages quoted from libraries (YAML, torch) may span several."""
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())


def report_user_errors(main: Callable[[], None]) -> Callable[[], None]:
    """Wrap a stage's `main` so a `UserError` prints `error: ...` on stderr and exits with status 2.

    Set RESNET_CIFAR_DEBUG=1 to get the full traceback as well.
    """

    @functools.wraps(main)
    def wrapper() -> None:
        try:
            main()
        except UserError as err:
            if os.environ.get(DEBUG_ENV):
                raise
            print(f"error: {one_line(str(err))}", file=sys.stderr)
            sys.exit(2)

    return wrapper
