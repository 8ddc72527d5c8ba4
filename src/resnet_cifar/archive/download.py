"""Fetch a dataset's archive, verify its MD5, and extract it without trusting the paths inside it."""
from __future__ import annotations

import hashlib
import http.client
import shutil
import socket
import ssl
import stat
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from ..atomic import write_error
from ..errors import UserError
from ..paths import RAW_FOLDERS

CHUNK = 1 << 20
# Errors of the network, worth another try; any other OSError while fetching is the local disk's.
TRANSIENT_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, ssl.SSLError)


def offline_hint(url: str) -> str:
    """What to do without the network, naming the file the URL names."""
    name = PurePosixPath(urllib.parse.urlparse(url).path).name or "archive.tar.gz"
    return (f"Offline? Put the archive on disk and point data.url at it, e.g. `dvc exp run -S "
            f"data.url=file:///path/to/{name}` (and data.md5 to its MD5 if it is not the official file)")


@dataclass(frozen=True)
class Layout:
    """What an official archive holds: one top-level folder with these files in it."""

    title: str
    folder: str
    files: frozenset[str]


OFFICIAL_LAYOUTS = {
    "cifar10": Layout("CIFAR-10", RAW_FOLDERS["cifar10"].name,
                      frozenset(["batches.meta", "test_batch"] + [f"data_batch_{i}" for i in range(1, 6)])),
    "cifar100": Layout("CIFAR-100", RAW_FOLDERS["cifar100"].name, frozenset(["meta", "train", "test"])),
}


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
                                f"{offline_hint(url)}") from err
            last_error = err
        except TRANSIENT_ERRORS as err:
            last_error = err
        except OSError as err:  # not the network's: the local disk's, which retrying will not fix
            raise write_error(dest, err) from err
        failures = 0 if _size(dest) > had else failures + 1
        if failures > retries:
            reason = getattr(last_error, "reason", None) or str(last_error) or type(last_error).__name__
            raise UserError(f"cannot download {url}: {failures} attempts in a row failed ({reason}). "
                            f"{offline_hint(url)}") from last_error
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


def safe_extract(archive: Path, dest: Path, layout: Layout | None = None) -> None:
    """Extract a tar (any compression) or zip archive into `dest`; with `layout`, only that official layout.

    Only regular files and folders inside `dest` are accepted, and with `layout` only under its folder: absolute
    paths, `..`, links and device files are rejected before anything is written. Errors writing `dest` are left as
    `OSError`.
    """
    is_zip = zipfile.is_zipfile(archive) and not tarfile.is_tarfile(archive)
    try:
        if is_zip:
            bundle: zipfile.ZipFile | tarfile.TarFile = zipfile.ZipFile(archive)
            # A zip keeps the file type in the high bits of external_attr, where tools that write one set it.
            plain_types = (0, stat.S_IFREG, stat.S_IFDIR)
            entries = [(i, i.filename, i.is_dir(), stat.S_IFMT(i.external_attr >> 16) in plain_types)
                       for i in bundle.infolist()]
        else:
            bundle = tarfile.open(archive, "r:*")
            entries = [(m, m.name, m.isdir(), m.isfile() or m.isdir()) for m in bundle.getmembers()]
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError) as err:
        # Reading every member's header reads the whole archive: truncation and corruption show up here.
        raise UserError(f"cannot read the downloaded archive (truncated, or not a tar.gz or zip?): {err}") from err
    with bundle:
        members = []
        inside = f"{layout.folder}/" if layout else "the destination"
        for member, name, _, plain in entries:
            parts = PurePosixPath(name).parts
            if name.startswith("/") or ".." in parts or not parts or (layout and parts[0] != layout.folder):
                raise UserError(f"refusing archive member '{name}': it would land outside {inside}")
            if not plain:
                raise UserError(f"refusing archive member '{name}': links and special files are not allowed")
            members.append(member)
        if layout:
            names = {PurePosixPath(name).name for _, name, is_dir, _ in entries
                     if not is_dir and len(PurePosixPath(name).parts) == 2}
            missing = sorted(layout.files - names)
            if missing:
                raise UserError(f"the archive at data.url is not a {layout.title} python archive: missing "
                                f"{', '.join(missing)}")
        if is_zip:
            bundle.extractall(dest, members=members)
        else:
            bundle.extractall(dest, members=members, filter="data")


def official_unpacker(dataset: str) -> Callable[[Path, Path], Path]:
    """Unpack an official archive in `dataset`'s layout into a folder; the function returns its one folder."""
    layout = OFFICIAL_LAYOUTS[dataset]

    def unpack(archive: Path, dest: Path) -> Path:
        safe_extract(archive, dest, layout)
        return dest / layout.folder
    return unpack


def download_archive(url: str, md5: str, out_dir: Path, unpack: Callable[[Path, Path], Path]) -> Path:
    """Fetch and verify the archive, then `unpack(archive, staging)` it; `out_dir` is replaced by the staging folder
    whole, only on success. Returns where unpack's result (a path inside staging) lies in `out_dir`."""
    out_dir = Path(out_dir)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".download-", dir=out_dir.parent) as tmp:
            archive = Path(tmp) / "archive"
            fetch(url, archive)
            verify_md5(archive, md5, url)
            staging = Path(tmp) / "extracted"
            unpacked = unpack(archive, staging)
            if out_dir.exists():
                shutil.rmtree(out_dir)
            staging.rename(out_dir)
    except OSError as err:  # the network's errors are handled in fetch: what is left is the local disk
        raise write_error(out_dir, err) from err
    return out_dir / unpacked.relative_to(staging)


def download_cifar10(url: str, md5: str, out_dir: Path) -> Path:
    """The CIFAR-10 batches folder, fetched, verified and extracted into `out_dir`."""
    return download_archive(url, md5, out_dir, official_unpacker("cifar10"))
