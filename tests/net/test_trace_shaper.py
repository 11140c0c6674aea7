"""The shaper follows a stepped trace: the delivered rate in each step within 10%.

Robust on a loaded machine by construction: it counts the bytes the shaper has delivered
over windows of about a second (well inside each step) and divides by the window's own
measured length, so late wake-ups move bytes within a window, not out of it.
"""

from __future__ import annotations

import hashlib
import socket
import struct
import threading
import time
from pathlib import Path

import pytest

from splitinfer.net import LinkShaper
from tests.net.servers import recv_all, serve, sink

pytestmark = pytest.mark.integration  # starts servers and the shaper

STEP_S = 1.5  # 200 kbit/s (25 KB/s) until here, then 800 kbit/s (100 KB/s)
WINDOWS = ((0.3, 1.4, 25_000.0), (1.9, 3.3, 100_000.0))  # (from s, to s, bytes/s)


def stepped_csv(tmp_path: Path) -> Path:
    path = tmp_path / "step.csv"
    path.write_text(f"t_s,up_mbps,down_mbps,rtt_ms,loss\n0,0.2,10,0,0\n{STEP_S},0.8,10,0,0\n")
    return path


def stepped_mahimahi(tmp_path: Path) -> Path:
    """One 1500 B packet every 60 ms (25 KB/s) for 1.5 s, then every 15 ms (100 KB/s)."""
    stamps = [*range(60, 1501, 60), *range(1515, 4001, 15)]
    path = tmp_path / "step.trace"
    path.write_text("\n".join(map(str, stamps)) + "\n")
    return path


def rates_in_windows(shaper: LinkShaper, until_s: float) -> list[float]:
    """Sample the delivered uplink bytes against trace time; the rate in each window."""
    samples: list[tuple[float, int]] = []
    while True:
        t = shaper.trace_time()
        assert t is not None
        conns = shaper.connections
        samples.append((t, conns[0].up.delivered if conns else 0))
        if t > until_s:
            break
        time.sleep(0.02)
    rates = []
    for start, end, _ in WINDOWS:
        a = min(samples, key=lambda s: abs(s[0] - start))
        b = min(samples, key=lambda s: abs(s[0] - end))
        rates.append((b[1] - a[1]) / (b[0] - a[0]))
    return rates


@pytest.mark.parametrize("make", [stepped_csv, stepped_mahimahi], ids=["csv", "mahimahi"])
def test_the_shaper_follows_a_stepped_trace(tmp_path: Path, make: object) -> None:
    trace = make(tmp_path)  # type: ignore[operator]
    stop = threading.Event()
    with serve(sink) as upstream:
        shaper = LinkShaper(("127.0.0.1", 0), upstream, 1.0, 10.0, 0.0, trace=str(trace))
        with shaper.running() as port:
            client = socket.socket()
            client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)  # a short drain
            client.settimeout(20)
            client.connect(("127.0.0.1", port))

            def send() -> None:  # as fast as the link lets it (TCP flow control)
                block = bytes(range(256)) * 32
                while not stop.is_set():
                    try:
                        client.sendall(block)
                    except OSError:  # the shaper stopped under it: the test is over
                        return

            sender = threading.Thread(target=send, daemon=True)
            sender.start()
            try:
                rates = rates_in_windows(shaper, WINDOWS[-1][1] + 0.1)
            finally:
                stop.set()
                client.close()  # no drain: what is queued would take seconds at 25 KB/s
            sender.join(20)
    for (start, end, want), got in zip(WINDOWS, rates, strict=True):
        assert got == pytest.approx(want, rel=0.10), f"{start}-{end} s: {got:.0f} B/s"


def test_loss_delays_and_resends_but_delivers_every_byte(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 400  # 100 KB, ~69 segments
    with serve(sink) as upstream:
        shaper = LinkShaper(
            ("127.0.0.1", 0), upstream, 8.0, 8.0, 20.0, loss=0.2, seed=3
        )  # 1 MB/s: 0.1 s of transfer
        with shaper.running() as port, socket.create_connection(("127.0.0.1", port)) as c:
            t0 = time.perf_counter()
            c.sendall(payload)
            c.shutdown(socket.SHUT_WR)
            answer = recv_all(c)
            elapsed = time.perf_counter() - t0
            resent = shaper.connections[0].up.resent
    assert struct.unpack(">Q", answer[:8])[0] == len(payload)
    assert answer[8:] == hashlib.sha256(payload).digest()
    assert resent > 0  # ~20% of the segments were booked again
    assert elapsed >= 0.1 + 0.02 + 0.02  # rate, RTT, and at least one loss's extra RTT
