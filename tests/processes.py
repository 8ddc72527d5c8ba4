"""This machine's processes, read from /proc: those of a session, and those that work in a folder."""
from __future__ import annotations

import os
from pathlib import Path


def _stat(pid_folder: Path) -> list[str] | None:
    """/proc/PID/stat's fields after the command name (state, ppid, pgrp, session, ...); None once it is gone."""
    try:
        return (pid_folder / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _live() -> list[tuple[int, list[str]]]:
    """Every process that is running (not a zombie waiting to be reaped), with its stat fields."""
    found = []
    for folder in Path("/proc").glob("[0-9]*"):
        fields = _stat(folder)
        if fields is not None and fields[0] != "Z":
            found.append((int(folder.name), fields))
    return found


def session_processes(session: int) -> list[int]:
    """The live processes of a session."""
    return [pid for pid, fields in _live() if int(fields[3]) == session]


def processes_in(folder: Path) -> dict[int, int]:
    """The live processes whose working folder or command line is in `folder`, each with its session."""
    inside = str(folder.resolve())
    found = {}
    for pid, fields in _live():
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cwd == inside or cwd.startswith(inside + os.sep) or inside in command:
            found[pid] = int(fields[3])
    return found
