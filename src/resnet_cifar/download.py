"""Fetch the CIFAR-10 archive, verify its MD5, and extract it without trusting the paths inside it."""
from __future__ import annotations

import hashlib
import http.client
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from .errors import UserError

CHUNK = 1 << 20
EXPECTED_MEMBERS = frozenset(
    ["batches.meta", "test_batch"] + [f"data_batch_{i}" for i in range(1, 6)]
)
ARCHIVE_DIR = "cifar-10-batches-py"


def local_source(url: str) -> Path | None:
    """The local file a `file://` URL or a plain path names; None for a network URL."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(parsed.path))
    if len(parsed.scheme) <= 1:  # a bare path, or one starting with a Windows drive letter
        return Path(url)
    return None


def fetch(url: str, dest: Path, retries: int = 4, timeout: float = 30.0) -> None:
    """Copy `url` (http(s), file:// or a local path) to `dest`, resuming or retrying on network errors."""
    source = local_source(url)
    if source is not None:
        if not source.is_file():
            raise UserError(f"data.url points to {source}, which is not a file")
        shutil.copyfile(source, dest)
        return
    last_error: Exception | None = None
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(min(2 ** attempt, 30))
        try:
            _fetch_http(url, dest, timeout)
            return
        except urllib.error.HTTPError as err:
            if err.code < 500:  # 404, 403...: retrying will not help
                raise UserError(f"cannot download {url}: HTTP {err.code} {err.reason}") from err
            last_error = err
        except (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError) as err:
            last_error = err
    reason = getattr(last_error, "reason", None) or last_error
    raise UserError(
        f"cannot download {url} after {retries + 1} attempts ({reason}). Offline? Put the archive on disk and "
        f"point data.url at it, e.g. `dvc exp run -S data.url=file:///path/to/cifar-10-python.tar.gz` "
        f"(and data.md5 to its MD5 if it is not the official file)"
    )


def _fetch_http(url: str, dest: Path, timeout: float) -> None:
    """One attempt; continues a partial `dest` with a Range request when the server allows it."""
    have = dest.stat().st_size if dest.exists() else 0
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
        if total is not None and dest.stat().st_size < total:
            raise http.client.IncompleteRead(b"", total - dest.stat().st_size)


def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


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
    device files are rejected before anything is written.
    """
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            files = []
            for m in members:
                parts = PurePosixPath(m.name).parts
                if m.name.startswith("/") or ".." in parts or not parts or parts[0] != ARCHIVE_DIR:
                    raise UserError(f"refusing archive member '{m.name}': it would land outside {ARCHIVE_DIR}/")
                if not (m.isfile() or m.isdir()):
                    raise UserError(f"refusing archive member '{m.name}': links and special files are not allowed")
                if m.isfile():
                    files.append(m)
            names = {PurePosixPath(m.name).name for m in files if len(PurePosixPath(m.name).parts) == 2}
            missing = sorted(EXPECTED_MEMBERS - names)
            if missing:
                raise UserError(f"{archive.name} is not a CIFAR-10 python archive: missing {', '.join(missing)}")
            tar.extractall(dest, members=files, filter="data")
    except (tarfile.TarError, EOFError, OSError) as err:
        raise UserError(f"cannot read the downloaded archive (truncated or not a tar.gz?): {err}") from err


def download_cifar10(url: str, md5: str, out_dir: Path) -> Path:
    """Fetch, verify and extract into `out_dir` (replaced whole, only on success); return the batches folder."""
    out_dir = Path(out_dir)
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
    return out_dir / ARCHIVE_DIR
