"""The shaper end to end on loopback: integrity, delay, rate, EOF, errors, counters.

Timing asserts are one-sided or generous on purpose (shared CI machines): the lower
bounds follow from the design, the upper bounds only catch hangs and gross slowness.
benchmarks/shaper_accuracy.py measures the accuracy itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from splitinfer.harness.server import free_port
from splitinfer.net import LinkShaper, ShaperError
from splitinfer.net.timing import MAX_EARLY_S
from tests.net.servers import (
    Handler,
    echo,
    recv_all,
    reset_after_first_bytes,
    serve,
    sink,
    source,
)

pytestmark = pytest.mark.integration  # starts servers, subprocesses or heavy tools

TIMEOUT = 10.0
#: The delay line may release up to MAX_EARLY_S early in each direction (timer compensation).
EARLY = 2 * MAX_EARLY_S


@contextmanager
def shaped(
    handler: Handler, up: float = 100.0, down: float = 100.0, rtt: float = 0.0
) -> Iterator[tuple[socket.socket, LinkShaper]]:
    """A server running ``handler``, a shaper in front of it, and a client connected to it."""
    with serve(handler) as upstream:
        shaper = LinkShaper(("127.0.0.1", 0), upstream, up, down, rtt)
        with shaper.running() as port:
            client = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with client:
                yield client, shaper


def wait_closed(shaper: LinkShaper) -> None:
    deadline = time.monotonic() + TIMEOUT
    while any(c.open for c in shaper.connections) and time.monotonic() < deadline:
        time.sleep(0.01)


def closed_by_peer(sock: socket.socket) -> bool:
    """True once the peer has closed (EOF) or reset the connection; False if data came."""
    try:
        return sock.recv(16) == b""
    except ConnectionResetError:
        return True


def send_then_half_close(sock: socket.socket, pieces: list[bytes]) -> threading.Thread:
    def run() -> None:
        for piece in pieces:
            sock.sendall(piece)
        sock.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize(
    "pieces",
    [
        [b"x"],
        [os.urandom(7), os.urandom(1000)],
        [os.urandom(300_000)],
        [bytes([i % 256]) for i in range(500)],  # many tiny writes
    ],
    ids=["one-byte", "small", "300KB", "500-tiny-writes"],
)
def test_bytes_through_equal_bytes_in_both_ways(pieces: list[bytes]) -> None:
    with shaped(echo, up=50, down=50, rtt=10) as (client, shaper):
        sender = send_then_half_close(client, pieces)
        back = recv_all(client)  # EOF arrives: the echo server half-closed after echoing
        sender.join(TIMEOUT)
        wait_closed(shaper)
    sent = b"".join(pieces)
    assert back == sent
    (conn,) = shaper.connections
    assert conn.bytes_up == conn.bytes_down == len(sent)
    assert conn.up.eof and conn.down.eof and conn.error is None and not conn.open


def test_upload_integrity_via_digest() -> None:
    data = os.urandom(200_000)
    with shaped(sink, up=100, rtt=4) as (client, _):
        send_then_half_close(client, [data[:1], data[1:5000], data[5000:]]).join(TIMEOUT)
        reply = recv_all(client)
    assert reply == struct.pack(">Q", len(data)) + hashlib.sha256(data).digest()


def test_round_trip_gains_at_least_the_rtt() -> None:
    rtt = 0.060
    with shaped(echo, rtt=rtt * 1000) as (client, _):
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            client.sendall(b"ping")
            assert client.recv(16) == b"ping"
            times.append(time.perf_counter() - t0)
    assert min(times) >= rtt - EARLY
    assert max(times) < rtt + 0.5


def test_upload_rate_is_not_exceeded() -> None:
    n, mbps = 200_000, 8.0
    with shaped(sink, up=mbps) as (client, shaper):
        ideal = (n - shaper.settings.burst_bytes) * 8 / (mbps * 1e6)
        t0 = time.perf_counter()
        send_then_half_close(client, [bytes(n)])
        reply = recv_all(client)
        elapsed = time.perf_counter() - t0
    assert struct.unpack(">Q", reply[:8])[0] == n
    assert elapsed >= ideal - EARLY
    assert elapsed < 3 * ideal + 1.0


def test_download_rate_is_not_exceeded() -> None:
    n, mbps = 200_000, 8.0
    with shaped(source(bytes(n)), down=mbps) as (client, shaper):
        ideal = (n - shaper.settings.burst_bytes) * 8 / (mbps * 1e6)
        t0 = time.perf_counter()
        got = recv_all(client)
        elapsed = time.perf_counter() - t0
    assert len(got) == n
    assert elapsed >= ideal - EARLY
    assert elapsed < 3 * ideal + 1.0


def test_upstream_close_reaches_client_as_eof_after_the_data() -> None:
    payload = os.urandom(50_000)
    with shaped(source(payload), rtt=20) as (client, shaper):
        assert recv_all(client) == payload  # then b"": EOF
        client.close()  # the client's half stays open until the client closes it
        wait_closed(shaper)
    (conn,) = shaper.connections
    assert conn.bytes_down == len(payload) and conn.down.eof


def test_upstream_unreachable_closes_client_promptly() -> None:
    shaper = LinkShaper("127.0.0.1:0", ("127.0.0.1", free_port()), 10, 10, 100)
    with shaper.running() as port:
        t0 = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as client:
            assert closed_by_peer(client)
        elapsed = time.perf_counter() - t0
        wait_closed(shaper)
    assert elapsed < 2.0
    (conn,) = shaper.connections
    assert conn.error is not None and "unreachable" in conn.error


def test_upstream_reset_propagates_to_client() -> None:
    with shaped(reset_after_first_bytes, rtt=10) as (client, shaper):
        client.sendall(b"hello")
        assert closed_by_peer(client)
        wait_closed(shaper)
    (conn,) = shaper.connections
    assert conn.error is not None


def test_stop_cuts_open_connections() -> None:
    with serve(echo) as upstream:
        shaper = LinkShaper("127.0.0.1:0", upstream, 10, 10, 0)
        with shaper.running() as port:
            client = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            client.sendall(b"hi")
            assert client.recv(2) == b"hi"
        with client:
            assert closed_by_peer(client)
    assert shaper.connections[0].error == "shaper stopped"


def test_port_in_use_and_not_started_are_typed_errors() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        shaper = LinkShaper(taken.getsockname()[:2], "127.0.0.1:1", 1, 1, 0)
        with pytest.raises(ShaperError, match="in use"), shaper.running():
            pass
    with pytest.raises(ShaperError, match="not running"):
        _ = shaper.address


def test_async_context_manager_form() -> None:
    async def run() -> bytes:
        with serve(echo) as upstream:
            async with LinkShaper("127.0.0.1:0", upstream, 20, 20, 10) as shaper:
                with pytest.raises(ShaperError, match="already running"):
                    await shaper.start()
                reader, writer = await asyncio.open_connection(*shaper.address)
                writer.write(b"async")
                writer.write_eof()
                data = await asyncio.wait_for(reader.read(), TIMEOUT)
                writer.close()
                return data

    assert asyncio.run(run()) == b"async"
