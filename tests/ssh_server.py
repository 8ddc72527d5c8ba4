"""A throwaway OpenSSH server on a loopback port with throwaway keys, to test DVC's SSH remote without a network."""
from __future__ import annotations

import getpass
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from loopback import free_port, serve

SSHD_CONFIG = """\
ListenAddress 127.0.0.1
HostKey {folder}/host_key
PidFile {folder}/sshd.pid
AuthorizedKeysFile {folder}/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
UsePAM no
Subsystem sftp internal-sftp
"""


@dataclass(frozen=True)
class SSHServer:
    port: int
    user: str
    keyfile: Path  # the client's private key, accepted by the server
    home: Path  # a HOME for clients: its .ssh/known_hosts trusts this server's host key
    log: Path  # sshd's log: connections and logins

    def url(self, path: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path}"


def find_sshd() -> str | None:
    return shutil.which("sshd", path=f"{os.environ.get('PATH', '')}{os.pathsep}/usr/sbin{os.pathsep}/usr/local/sbin")


def _keygen(path: Path) -> str:
    """Write an ed25519 key pair without passphrase; return the public key line."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "throwaway", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


@contextmanager
def ssh_server(folder: Path) -> Iterator[SSHServer]:
    """Run `sshd -D` on 127.0.0.1 for the current user (root included), with keys and config under `folder`."""
    sshd = find_sshd()
    if sshd is None:
        raise FileNotFoundError("sshd not found (Debian: apt-get install openssh-server)")
    folder.mkdir(parents=True, exist_ok=True)
    host_public = _keygen(folder / "host_key")
    (folder / "authorized_keys").write_text(_keygen(folder / "user_key") + "\n")
    config = folder / "sshd_config"
    config.write_text(SSHD_CONFIG.format(folder=folder))
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
    port = free_port()
    home = folder / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh/known_hosts").write_text(f"[127.0.0.1]:{port} {host_public}\n")

    log = folder / "sshd.log"
    with serve([sshd, "-D", "-e", "-f", str(config), "-p", str(port)], port, "sshd", log):
        yield SSHServer(port=port, user=getpass.getuser(), keyfile=folder / "user_key", home=home, log=log)
