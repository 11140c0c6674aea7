"""Tiny loopback servers for the link emulator tests, each in a background thread."""

from __future__ import annotations

import hashlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

Handler = Callable[[socket.socket], None]


@contextmanager
def serve(handler: Handler) -> Iterator[tuple[str, int]]:
    """Accept connections on 127.0.0.1 (free port) and run ``handler`` on each in a thread."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stop = threading.Event()

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            conn.settimeout(20)
            threading.Thread(target=_run, args=(handler, conn), daemon=True).start()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[:2]
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def _run(handler: Handler, conn: socket.socket) -> None:
    with conn, suppress(OSError):
        handler(conn)


def echo(conn: socket.socket) -> None:
    """Echo everything until EOF, then half-close (so the client sees EOF after the data)."""
    while data := conn.recv(65536):
        conn.sendall(data)
    conn.shutdown(socket.SHUT_WR)


def sink(conn: socket.socket) -> None:
    """Read until EOF, then answer ``count (8 bytes) + sha256`` of what arrived."""
    digest, count = hashlib.sha256(), 0
    while data := conn.recv(65536):
        digest.update(data)
        count += len(data)
    conn.sendall(struct.pack(">Q", count) + digest.digest())


def source(payload: bytes) -> Handler:
    """Send ``payload`` and close at once (full close, not half-close)."""

    def handler(conn: socket.socket) -> None:
        conn.sendall(payload)

    return handler


def reset_after_first_bytes(conn: socket.socket) -> None:
    """Read something, then abort the connection with a TCP reset."""
    conn.recv(1)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def recv_all(sock: socket.socket) -> bytes:
    """Read until EOF."""
    chunks = []
    while data := sock.recv(65536):
        chunks.append(data)
    return b"".join(chunks)
