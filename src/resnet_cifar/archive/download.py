"""Fetch the CIFAR-10 archive, verify its MD5, and extract it without trusting the paths inside it."""
from __future__ import annotations

import hashlib
import http.client
import shutil
import socket
import ssl
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from ..atomic import write_error
from ..errors import UserError
from ..paths import ARCHIVE_FOLDER

CHUNK = 1 << 20
EXPECTED_MEMBERS = frozenset(
    ["batches.meta", "test_batch"] + [f"data_batch_{i}" for i in range(1, 6)]
)
# Errors of the network, worth another try; any other OSError while fetching is the local disk's.
TRANSIENT_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, ssl.SSLError)
OFFLINE_HINT = ("Offline? Put the archive on disk and point data.url at it, e.g. `dvc exp run -S "
                "data.url=file:///path/to/cifar-10-python.tar.gz` (and data.md5 to its MD5 if it is not the "
                "official file)")


def local_source(url: str) -> Path | None:
    """The local file a `file://` URL or a plain path names; None for a network URL."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(parsed.path))
    if len(parsed.scheme) <= 1:  # a bare path, or one starting with a Windows drive letter
        return Path(url)
    return None


def fetch(url: str, dest: Path, retries: int = 4, timeout: float = 30.0, backoff: float = 2.0) -> None:
    """Copy `url` (http(s), file:// or a local path) to `dest`, resuming or retrying on network errors.

    Up to `retries` attempts in a row may fail without adding to `dest` (waiting `backoff` seconds, doubling
    each time); an attempt that adds bytes resets that count, so a flaky connection still completes.
    A host name that does not resolve fails at once: retrying does not bring a network back.
    """
    source = local_source(url)
    if source is not None:
        _copy_local(source, dest)
        return
    failures = 0
    while True:
        had = _size(dest)
        try:
            _fetch_http(url, dest, timeout)
            return
        except urllib.error.HTTPError as err:
            if err.code < 500:  # 404, 403...: retrying will not help
                raise UserError(f"cannot download {url}: HTTP {err.code} {err.reason}") from err
            last_error: Exception = err
        except urllib.error.URLError as err:
            if isinstance(err.reason, socket.gaierror):
                host = urllib.parse.urlparse(url).hostname
                raise UserError(f"cannot download {url}: host {host} not found ({err.reason.strerror}). "
                                f"{OFFLINE_HINT}") from err
            last_error = err
        except TRANSIENT_ERRORS as err:
            last_error = err
        except OSError as err:  # not the network's: the local disk's, which retrying will not fix
            raise write_error(dest, err) from err
        failures = 0 if _size(dest) > had else failures + 1
        if failures > retries:
            reason = getattr(last_error, "reason", None) or str(last_error) or type(last_error).__name__
            raise UserError(f"cannot download {url}: {failures} attempts in a row failed ({reason}). "
                            f"{OFFLINE_HINT}") from last_error
        if failures:  # after progress, resume at once: the connection was working
            time.sleep(min(backoff * 2 ** (failures - 1), 30.0))


def _copy_local(source: Path, dest: Path) -> None:
    """Copy a local file, telling a missing or unreadable source (the params' fault) from a failed write."""
    if not source.is_file():
        raise UserError(f"data.url points to {source}, which is not a file")
    try:
        reader = open(source, "rb")
    except OSError as err:
        raise UserError(f"cannot read {source}: {err.strerror or err}") from err
    try:
        with reader, open(dest, "wb") as out:
            shutil.copyfileobj(reader, out, CHUNK)
    except OSError as err:
        raise write_error(dest, err) from err


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _fetch_http(url: str, dest: Path, timeout: float) -> None:
    """One attempt; continues a partial `dest` with a Range request when the server allows it."""
    have = _size(dest)
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        resumed = have and response.status == 206
        total = response.length + (have if resumed else 0) if response.length is not None else None
        mode = "ab" if resumed else "wb"
        start = have if resumed else 0
        with open(dest, mode) as out, tqdm(total=total, initial=start, unit="B", unit_scale=True,
                                          desc="download", disable=None) as bar:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
        if total is not None and dest.stat().st_size < total:  # the server closed the connection early
            raise ConnectionError(f"the server closed the connection after {dest.stat().st_size} of {total} bytes")


def md5sum(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "md5").hexdigest()


def verify_md5(path: Path, expected: str, url: str) -> None:
    actual = md5sum(path)
    if actual != expected.lower():
        raise UserError(
            f"MD5 mismatch for {url}: expected {expected}, got {actual}. The file is corrupt or not the "
            f"archive you meant; if it is a different archive on purpose, set data.md5 to {actual}"
        )


def safe_extract(archive: Path, dest: Path) -> None:
    """Extract the CIFAR-10 batches into `dest/cifar-10-batches-py`.

    Only regular files and folders under `cifar-10-batches-py/` are accepted: absolute paths, `..`, links and
    device files are rejected before anything is written. Errors writing `dest` are left as `OSError`.
    """
    try:
        tar = tarfile.open(archive, "r:*")
        members = tar.getmembers()  # reads the whole archive: truncation and corruption show up here
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        raise UserError(f"cannot read the downloaded archive (truncated or not a tar.gz?): {err}") from err
    with tar:
        files = []
        for m in members:
            parts = PurePosixPath(m.name).parts
            if m.name.startswith("/") or ".." in parts or not parts or parts[0] != ARCHIVE_FOLDER:
                raise UserError(f"refusing archive member '{m.name}': it would land outside {ARCHIVE_FOLDER}/")
            if not (m.isfile() or m.isdir()):
                raise UserError(f"refusing archive member '{m.name}': links and special files are not allowed")
            if m.isfile():
                files.append(m)
        names = {PurePosixPath(m.name).name for m in files if len(PurePosixPath(m.name).parts) == 2}
        missing = sorted(EXPECTED_MEMBERS - names)
        if missing:
            raise UserError(f"{archive.name} is not a CIFAR-10 python archive: missing {', '.join(missing)}")
        tar.extractall(dest, members=files, filter="data")


def download_cifar10(url: str, md5: str, out_dir: Path) -> Path:
    """Fetch, verify and extract into `out_dir` (replaced whole, only on success); return the batches folder."""
    out_dir = Path(out_dir)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".download-", dir=out_dir.parent) as tmp:
            archive = Path(tmp) / "cifar-10-python.tar.gz"
            fetch(url, archive)
            verify_md5(archive, md5, url)
            staging = Path(tmp) / "extracted"
            safe_extract(archive, staging)
            if out_dir.exists():
                shutil.rmtree(out_dir)
            staging.rename(out_dir)
    except OSError as err:  # the network's errors are handled in fetch: what is left is the local disk
        raise write_error(out_dir, err) from err
    return out_dir / ARCHIVE_FOLDER
