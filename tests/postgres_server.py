"""A throwaway PostgreSQL server on a loopback port, its data in a temporary folder, for the search's shared-study
test. As root (PostgreSQL refuses to run as root) the server runs as the `postgres` user."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from loopback import free_port, serve

SERVER_USER = "postgres"


def find_postgres_bin() -> Path | None:
    """The folder of `initdb` and `postgres`: on PATH, or Debian's /usr/lib/postgresql/<version>/bin."""
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", SERVER_USER, "--", *command]


@contextmanager
def postgres_server() -> Iterator[str]:
    """Run PostgreSQL with a fresh cluster in a temporary folder on 127.0.0.1; yields a URL for its database
    `postgres` (user `postgres`, trust authentication on loopback). The folder is removed afterwards."""
    bin_folder = find_postgres_bin()
    if bin_folder is None:
        raise FileNotFoundError("PostgreSQL not found (Debian: apt-get install postgresql)")
    # Under /tmp itself: pytest's own temporary folders are private to their owner, closed to the server's user.
    folder = Path(tempfile.mkdtemp(prefix="postgres-"))
    try:
        with _cluster(bin_folder, folder) as url:
            yield url
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _cluster(bin_folder: Path, folder: Path) -> Iterator[str]:
    if os.geteuid() == 0:
        record = pwd.getpwnam(SERVER_USER)
        os.chown(folder, record.pw_uid, record.pw_gid)
    data = folder / "data"
    subprocess.run(_as_server_user([str(bin_folder / "initdb"), "-D", str(data), "-U", SERVER_USER,
                                    "--auth=trust", "--no-sync"]), check=True, capture_output=True)
    port = free_port()
    command = _as_server_user([str(bin_folder / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port),
                               "-k", str(folder), "-c", "fsync=off"])
    with serve(command, port, "postgres", folder / "server.log"):
        yield f"postgresql://{SERVER_USER}@127.0.0.1:{port}/postgres"
