"""A probe server and client to measure a link end to end: RTT and throughput each way.

Protocol (one connection, any number of requests): the client sends one op byte and an
8-byte big-endian length ``n``, then

- ``P`` (ping):     the client sends ``n`` bytes, the server echoes them back;
- ``U`` (upload):   the client sends ``n`` bytes, the server answers ``K`` after the last;
- ``D`` (download): the server sends ``n`` bytes.

The client times each request from its first byte sent to the last byte received, with
blocking sockets, and estimates a rate as ``n / (elapsed - median ping)``: the ping is
taken on the same connection, so the round trip is removed and what is left is the time
the ``n`` bytes took to cross the link.

``python -m splitinfer.net.probe serve --listen HOST:PORT`` and
``python -m splitinfer.net.probe measure --to HOST:PORT`` run the two ends as processes
(so a benchmark can put them in different network namespaces).
"""

from __future__ import annotations

import argparse
import json
import socket
import socketserver
import statistics
import struct
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

from splitinfer.net.address import Address, format_address, parse_address

_HEADER = struct.Struct(">cQ")
_BLOCK = 65536
MAX_REQUEST = 1 << 34  # 16 GiB: refuse absurd lengths instead of streaming forever


def recv_exactly(sock: socket.socket, n: int, keep: bool = False) -> bytes:
    """Read exactly ``n`` bytes (returned only if ``keep``); EOF first raises ``EOFError``."""
    buf = bytearray(min(n, _BLOCK))
    view = memoryview(buf)
    kept = bytearray()
    left = n
    while left:
        got = sock.recv_into(view, min(left, len(buf)))
        if got == 0:
            raise EOFError(f"connection closed with {left} of {n} bytes still expected")
        if keep:
            kept += view[:got]
        left -= got
    return bytes(kept)


def send_zeros(sock: socket.socket, n: int) -> None:
    """Send ``n`` zero bytes in blocks."""
    block = bytes(min(n, _BLOCK))
    while n:
        k = min(n, len(block))
        sock.sendall(block[:k] if k < len(block) else block)
        n -= k


class _ProbeHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                head = sock.recv(_HEADER.size, socket.MSG_WAITALL)
                if len(head) < _HEADER.size:
                    return
                op, n = _HEADER.unpack(head)
                if n > MAX_REQUEST:
                    return
                if op == b"P":
                    sock.sendall(recv_exactly(sock, n, keep=True))
                elif op == b"U":
                    recv_exactly(sock, n)
                    sock.sendall(b"K")
                elif op == b"D":
                    send_zeros(sock, n)
                else:
                    return
        except (OSError, EOFError):
            return


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def probe_server(listen: Address | str = ("127.0.0.1", 0)) -> Iterator[Address]:
    """Run a probe server in a background thread; yields its bound ``(host, port)``."""
    host, port = parse_address(listen)
    server = _Server((host, port), _ProbeHandler)
    thread = threading.Thread(target=server.serve_forever, name="splitinfer-probe", daemon=True)
    thread.start()
    try:
        bound = server.server_address
        yield (str(bound[0]), int(bound[1]))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class ProbeClient:
    """Blocking client for a probe server (directly or through a link)."""

    def __init__(self, address: Address | str, timeout_s: float = 30.0) -> None:
        host, port = parse_address(address)
        self.sock = socket.create_connection((host, port), timeout=timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> ProbeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ping(self, size: int = 64) -> float:
        """Seconds for ``size`` bytes to go there and back."""
        payload = bytes(size)
        t0 = time.perf_counter()
        self.sock.sendall(_HEADER.pack(b"P", size) + payload)
        recv_exactly(self.sock, size)
        return time.perf_counter() - t0

    def upload(self, n: int) -> float:
        """Seconds from the first byte of ``n`` sent to the server's acknowledgement."""
        t0 = time.perf_counter()
        self.sock.sendall(_HEADER.pack(b"U", n))
        send_zeros(self.sock, n)
        recv_exactly(self.sock, 1)
        return time.perf_counter() - t0

    def download(self, n: int) -> float:
        """Seconds from the request sent to the last of ``n`` bytes received."""
        t0 = time.perf_counter()
        self.sock.sendall(_HEADER.pack(b"D", n))
        recv_exactly(self.sock, n)
        return time.perf_counter() - t0


@dataclass
class Transfer:
    """Median time of one transfer size, and the rate it implies once the RTT is removed."""

    direction: str  # "up" or "down"
    nbytes: int
    seconds: list[float]
    rtt_s: float

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def mbps(self) -> float:
        """Payload rate: ``nbytes`` over the median time minus the median ping."""
        return 8 * self.nbytes / max(self.median_s - self.rtt_s, 1e-9) / 1e6


@dataclass
class Measurement:
    """RTT samples and transfers measured on one connection."""

    to: str
    ping_s: list[float]
    transfers: list[Transfer] = field(default_factory=list)

    @property
    def rtt_ms(self) -> float:
        return 1000 * statistics.median(self.ping_s)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Measurement:
        data = json.loads(text)
        transfers = [Transfer(**t) for t in data.pop("transfers")]
        return cls(**data, transfers=transfers)


def measure(
    address: Address | str,
    sizes: Sequence[int] = (),
    directions: Sequence[str] = ("up", "down"),
    pings: int = 20,
    repeats: int = 3,
    timeout_s: float = 60.0,
) -> Measurement:
    """Ping ``pings`` times, then time each size in each direction ``repeats`` times."""
    addr = parse_address(address)
    with ProbeClient(addr, timeout_s) as client:
        client.ping()  # warm-up: connection set up end to end
        result = Measurement(format_address(addr), [client.ping() for _ in range(pings)])
        rtt = statistics.median(result.ping_s)
        for n in sizes:
            for d in directions:
                run = client.upload if d == "up" else client.download
                result.transfers.append(Transfer(d, n, [run(n) for _ in range(repeats)], rtt))
    return result


def main(argv: list[str] | None = None) -> int:
    """``serve`` or ``measure`` (JSON on stdout), for use in other processes/namespaces."""
    p = argparse.ArgumentParser(prog="python -m splitinfer.net.probe", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="serve until killed; prints 'ready HOST:PORT'")
    s.add_argument("--listen", default="127.0.0.1:0")
    m = sub.add_parser("measure", help="measure against a probe server; prints JSON")
    m.add_argument("--to", required=True)
    m.add_argument("--sizes", default="", help="comma-separated byte counts")
    m.add_argument("--directions", default="up,down")
    m.add_argument("--pings", type=int, default=20)
    m.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    if args.cmd == "serve":
        with probe_server(args.listen) as bound:
            print(f"ready {format_address(bound)}", flush=True)
            threading.Event().wait()
        return 0
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    result = measure(args.to, sizes, args.directions.split(","), args.pings, args.repeats)
    print(result.to_json())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
