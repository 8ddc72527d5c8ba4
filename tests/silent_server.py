"""Endpoints that never answer, on loopback ports: a server that accepts every connection and then says nothing (a
hung remote), and a port where nothing listens (a remote that refuses connections)."""
from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from loopback import free_port

ACCEPT_POLL_SECONDS = 0.1  # how soon the accepting thread sees that the server is closing


@contextmanager
def silent_server() -> Iterator[str]:
    """Listen on a loopback port, accept every connection and hold it open without reading or writing a byte, until
    the `with` ends; yields the endpoint, http://127.0.0.1:<port>. A client waits on it until its own timeout."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(ACCEPT_POLL_SECONDS)
    closing = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while not closing.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, name="silent-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        closing.set()
        thread.join()
        listener.close()
        for connection in held:
            connection.close()


def refusing_endpoint() -> str:
    """http://127.0.0.1:<port> where nothing listens: every connection is refused at once."""
    return f"http://127.0.0.1:{free_port()}"
