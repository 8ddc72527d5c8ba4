"""Downloads over a network that misbehaves: dropped connections, servers without Range support, names that do
not resolve, and a local disk that refuses the file."""
import http.server
import socket
import threading
from dataclasses import dataclass, field

import pytest

from cifar_archive import write_archive
from resnet_cifar.archive import download
from resnet_cifar.archive.download import download_cifar10, fetch
from resnet_cifar.errors import UserError

PAYLOAD = bytes(range(256)) * 1000  # 256,000 bytes


@dataclass
class Flaky:
    """How the test server misbehaves: each of the first `drops` responses stops after `drop_after` body bytes."""

    payload: bytes = PAYLOAD
    drop_after: int = 0
    drops: float = float("inf")
    honour_range: bool = True
    ranges: list = field(default_factory=list)  # the Range header of each request, None where absent


class FlakyHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        flaky: Flaky = self.server.flaky
        asked = self.headers.get("Range")
        flaky.ranges.append(asked)
        start = int(asked.removeprefix("bytes=").rstrip("-")) if asked and flaky.honour_range else 0
        body = flaky.payload[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(flaky.payload) - 1}/{len(flaky.payload)}")
        self.send_header("Content-Length", str(len(body)))  # the full length, even when the body is cut short
        self.end_headers()
        if len(flaky.ranges) <= flaky.drops:
            body = body[:flaky.drop_after]
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def serve():
    """serve(Flaky(...)) -> URL of a loopback server that misbehaves as described."""
    servers = []

    def start(flaky: Flaky) -> str:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FlakyHandler)
        server.flaky = flaky
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/cifar.tar.gz"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_dropped_connections_resume_with_range_requests(tmp_path, serve):
    flaky = Flaky(drop_after=len(PAYLOAD) // 4 + 1)
    # Every response breaks off, but each one adds to the file: that resets the retry count.
    fetch(serve(flaky), tmp_path / "a", retries=1, backoff=0.001)
    assert (tmp_path / "a").read_bytes() == PAYLOAD
    quarter = len(PAYLOAD) // 4 + 1
    assert flaky.ranges == [None, f"bytes={quarter}-", f"bytes={2 * quarter}-", f"bytes={3 * quarter}-"]


def test_a_server_without_range_support_restarts_from_the_beginning(tmp_path, serve):
    flaky = Flaky(drop_after=len(PAYLOAD) // 2, drops=1, honour_range=False)
    fetch(serve(flaky), tmp_path / "a", retries=1, backoff=0.001)
    assert (tmp_path / "a").read_bytes() == PAYLOAD  # the partial first half was overwritten, not appended to
    assert flaky.ranges == [None, f"bytes={len(PAYLOAD) // 2}-"]  # it asked to resume; the server sent it all


def test_a_server_that_always_drops_ends_in_a_clear_error(tmp_path, serve, monkeypatch):
    flaky = Flaky(drop_after=0)
    waits = []
    monkeypatch.setattr(download.time, "sleep", waits.append)
    with pytest.raises(UserError, match=r"3 attempts in a row failed \(the server closed the connection after 0 "
                                        r"of 256000 bytes\)\. Offline\?"):
        fetch(serve(flaky), tmp_path / "a", retries=2, backoff=0.001)
    assert len(flaky.ranges) == 3
    assert waits == [0.001, 0.002]  # between the three attempts: the backoff given, doubled after each failure


def test_download_completes_over_a_flaky_connection_and_checks_the_md5(tmp_path, serve):
    archive = tmp_path / "cifar.tar.gz"
    md5 = write_archive(archive)
    flaky = Flaky(payload=archive.read_bytes(), drop_after=archive.stat().st_size // 3, drops=2)
    batches = download_cifar10(serve(flaky), md5, tmp_path / "raw")
    assert len(list(batches.iterdir())) == 7 and len(flaky.ranges) == 3


def test_an_unresolvable_host_fails_at_once(tmp_path, monkeypatch):
    calls = []

    def no_dns(host, *args, **kwargs):
        calls.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setenv("no_proxy", "*")  # resolve the host itself, not a proxy the environment may name
    with pytest.raises(UserError, match=r"host cifar\.example\.invalid not found \(Name or service not known\)\. "
                                        r"Offline\? .*data\.url=file:///path/to/cifar-100-python\.tar\.gz`"):
        fetch("https://cifar.example.invalid/~k/cifar-100-python.tar.gz", tmp_path / "a", retries=3, backoff=0.001)
    assert calls == ["cifar.example.invalid"]  # no retries: waiting does not bring a network back


def test_a_refused_connection_is_retried_then_reported(tmp_path):
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(UserError, match=r"3 attempts in a row failed \(.*refused.*data\.url=file://"):
        fetch(f"http://127.0.0.1:{port}/x", tmp_path / "a", retries=2, backoff=0.001)


def test_a_disk_error_is_reported_as_such_and_not_retried(tmp_path, serve):
    flaky = Flaky(drops=0)
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(UserError, match=r"cannot write .*file/raw: .*/file is a file, not a folder"):
        download_cifar10(serve(flaky), "0" * 32, blocker / "raw")
    with pytest.raises(UserError, match=r"cannot write .*file/sub/raw: .*/file is a file, not a folder"):
        fetch(serve(flaky), blocker / "sub" / "raw", retries=3, backoff=10)  # a retry would sleep 10 s
    assert flaky.ranges == [None]


def test_a_local_source_that_is_not_a_file(tmp_path):
    with pytest.raises(UserError, match="which is not a file"):
        download_cifar10(str(tmp_path), "0" * 32, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()
