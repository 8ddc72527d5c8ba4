"""A throwaway S3 server (moto's standalone server, in memory) on a loopback port, to test DVC's S3 remote without
a network or an AWS account."""
from __future__ import annotations

import importlib.util
import os
import sys
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from loopback import free_port, serve
from project import run

PREFIX = "resnet-cifar"  # the DVC remote's folder in its bucket
# Any key pair will do: moto accepts every signature.
DUMMY_CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing"}
S3_NAMESPACE = "{http://s3.amazonaws.com/doc/2006-03-01/}"


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # http://127.0.0.1:<port>, DVC's `endpointurl`
    log: Path  # moto's log: one line per request

    def create_bucket(self, bucket: str) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/{bucket}", method="PUT")).close()

    def has_object(self, bucket: str, key: str) -> bool:
        return key in self.keys(bucket, key)

    def keys(self, bucket: str, prefix: str) -> list[str]:
        """The keys in `bucket` that start with `prefix`."""
        query = urllib.parse.urlencode({"list-type": 2, "prefix": prefix})
        with urllib.request.urlopen(f"{self.endpoint}/{bucket}?{query}") as response:
            listing = ET.fromstring(response.read())
        return [element.text or "" for element in listing.iter(f"{S3_NAMESPACE}Key")]


def moto_installed() -> bool:
    """moto with its server's extras (Flask), as `pip install "moto[server]"` installs it."""
    return all(importlib.util.find_spec(name) is not None for name in ("moto", "flask", "flask_cors"))


def isolate_from_real_aws(patch: pytest.MonkeyPatch, folder: Path) -> None:
    """Take every AWS setting of the developer's machine (profile, keys, region) out of this process's environment,
    which subprocesses inherit, and leave S3 clients nowhere else to find credentials (no ~/.aws files, no instance
    metadata): they use only the DVC remote's own settings, and fail rather than reach a real account."""
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        patch.delenv(name)
    patch.setenv("AWS_CONFIG_FILE", str(folder / "no-aws-config"))
    patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(folder / "no-aws-credentials"))
    patch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@contextmanager
def s3_server(folder: Path) -> Iterator[S3Server]:
    """Run moto's S3 server on 127.0.0.1 with its log under `folder`; it holds buckets in memory and ends with them."""
    if not moto_installed():
        raise ModuleNotFoundError('moto\'s server is not installed (pip install "moto[server]")')
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = folder / "moto.log"
    with serve([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], port, "moto", log):
        yield S3Server(endpoint=f"http://127.0.0.1:{port}", log=log)


def use_s3_remote(project: Path, s3: S3Server, bucket: str) -> None:
    """Point the default remote at the bucket, keys included, per checkout (.dvc/config.local), as a teammate
    would: with the commands docs/sharing.md gives."""
    use_s3_endpoint(project, s3.endpoint, bucket)


def use_s3_endpoint(project: Path, endpoint: str, bucket: str) -> None:
    """`use_s3_remote` for any S3 endpoint URL, one that never answers included (silent_server.py)."""
    settings = {"url": f"s3://{bucket}/{PREFIX}", "endpointurl": endpoint, **DUMMY_CREDENTIALS}
    for option, value in settings.items():
        run(project, "dvc", "remote", "modify", "--local", "storage", option, value)
