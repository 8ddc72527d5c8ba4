"""A throwaway PostgreSQL server on a loopback port, its data in a temporary folder, for the search's tests of a
shared study. Its superuser has a password, which connections over TCP must give, so that a wrong one is a real
authentication failure; the server can be stopped and started again on the same data and port. As root
(PostgreSQL refuses to run as root) the server runs as the `postgres` user."""
from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Cluster:
    """A PostgreSQL cluster (initdb's data folder) and the loopback port its server listens on when running."""

    bin_folder: Path
    folder: Path
    port: int
    password: str

    @property
    def url(self) -> str:
        """A URL for its database `postgres` as user `postgres`, with the password."""
        return f"postgresql://{SERVER_USER}:{self.password}@127.0.0.1:{self.port}/postgres"

    @contextmanager
    def running(self) -> Iterator[str]:
        """Run its server until the block ends, then stop it at once, disconnecting its clients (pg_ctl's fast
        shutdown: the SIGTERM that ends `serve` waits for them, and reaches the server through runuser as root);
        yields its URL."""
        data = str(self.folder / "data")
        command = _as_server_user([str(self.bin_folder / "postgres"), "-D", data, "-h", "127.0.0.1",
                                   "-p", str(self.port), "-k", str(self.folder), "-c", "fsync=off"])
        with serve(command, self.port, "postgres", self.folder / "server.log"):
            try:
                yield self.url
            finally:
                subprocess.run(_as_server_user([str(self.bin_folder / "pg_ctl"), "stop", "-D", data, "-m", "fast"]),
                               check=True, capture_output=True)


@contextmanager
def postgres_cluster() -> Iterator[Cluster]:
    """A fresh cluster in a temporary folder, not running: password (SCRAM) authentication over TCP, trust on its
    own Unix socket. The folder is removed afterwards."""
    bin_folder = find_postgres_bin()
    if bin_folder is None:
        raise FileNotFoundError("PostgreSQL not found (Debian: apt-get install postgresql)")
    # Under /tmp itself: pytest's own temporary folders are private to their owner, closed to the server's user.
    folder = Path(tempfile.mkdtemp(prefix="postgres-"))
    try:
        yield _init_cluster(bin_folder, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _init_cluster(bin_folder: Path, folder: Path) -> Cluster:
    if os.geteuid() == 0:
        record = pwd.getpwnam(SERVER_USER)
        os.chown(folder, record.pw_uid, record.pw_gid)
    password = f"pw-{secrets.token_hex(12)}"  # found nowhere else: a test can search outputs for it
    password_file = folder / "password"
    password_file.write_text(password + "\n")
    password_file.chmod(0o644)  # readable by the server's user
    subprocess.run(_as_server_user([str(bin_folder / "initdb"), "-D", str(folder / "data"), "-U", SERVER_USER,
                                    "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={password_file}",
                                    "--no-sync"]), check=True, capture_output=True)
    password_file.unlink()
    return Cluster(bin_folder, folder, free_port(), password)


@contextmanager
def postgres_server() -> Iterator[str]:
    """Run PostgreSQL with a fresh cluster in a temporary folder on 127.0.0.1; yields a URL for its database
    `postgres` (user `postgres`, with its password). The folder is removed afterwards."""
    with postgres_cluster() as cluster, cluster.running() as url:
        yield url
