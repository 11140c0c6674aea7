"""A kernel reference link for cross-checks: two network namespaces, a veth pair, tbf.

::

    netns <token>c (client, 10.213.0.1) ─veth, tbf up_mbps─► netns <token>s (server, 10.213.0.2)
                                         ◄─veth, tbf down_mbps─

``tbf`` shapes egress only, so each end shapes the direction it sends. The probe server
and client (:mod:`splitinfer.net.probe`) run as processes inside the namespaces. Linux,
root, ``ip`` and ``tc`` only; :func:`unavailable_reason` says why not otherwise. The
addresses exist only inside the two namespaces, which are always deleted afterwards.

tbf counts bytes on the wire (Ethernet + IP + TCP headers), the shaper counts payload:
:data:`PAYLOAD_PER_WIRE_BYTE` converts between the two for full-size segments.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from splitinfer.net.errors import ShaperError
from splitinfer.net.probe import Measurement

#: Payload share of a full-size TCP segment at the qdisc over Ethernet (MTU 1500, TCP
#: timestamps on, Linux's default): 1448 payload of 1514 bytes (14 Ethernet + 20 IP +
#: 32 TCP headers).
PAYLOAD_PER_WIRE_BYTE = 1448 / 1514
CLIENT_IP, SERVER_IP = "10.213.0.1", "10.213.0.2"
_counter = itertools.count()


def unavailable_reason() -> str | None:
    """Why a tbf link cannot be built here, or ``None`` when it can."""
    if not sys.platform.startswith("linux"):
        return "tbf cross-check needs Linux"
    if os.geteuid() != 0:
        return "tbf cross-check needs root (ip netns, tc)"
    missing = [tool for tool in ("ip", "tc") if shutil.which(tool) is None]
    if missing:
        return f"tbf cross-check needs {' and '.join(missing)} (iproute2)"
    return None


@dataclass(frozen=True)
class TbfLink:
    """Two namespaces joined by a shaped veth pair (see the module docstring)."""

    client_ns: str
    server_ns: str
    up_mbps: float
    down_mbps: float
    burst_bytes: int

    def command(self, ns: str, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside namespace ``ns``."""
        return ["ip", "netns", "exec", ns, *argv]


def _run(argv: Sequence[str]) -> None:
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=20)
    if done.returncode != 0:
        raise ShaperError(f"{' '.join(argv)} failed: {done.stderr.strip() or done.returncode}")


def tbf_burst(mbps: float) -> int:
    """Bucket depth for tbf: two full frames, or 1 ms at the rate if that is more."""
    return max(2 * 1514, int(mbps * 1e6 / 8 * 0.001))


@contextmanager
def tbf_link(up_mbps: float, down_mbps: float) -> Iterator[TbfLink]:
    """Build the namespace pair with tbf at ``up_mbps`` / ``down_mbps``; always torn down."""
    reason = unavailable_reason()
    if reason is not None:
        raise ShaperError(reason)
    token = f"si{os.getpid() % 100000}x{next(_counter) % 100}"
    link = TbfLink(f"{token}c", f"{token}s", up_mbps, down_mbps, tbf_burst(max(up_mbps, down_mbps)))
    dev_c, dev_s = f"{token}a", f"{token}b"
    try:
        for ns in (link.client_ns, link.server_ns):
            _run(["ip", "netns", "add", ns])
        _run(["ip", "link", "add", dev_c, "type", "veth", "peer", "name", dev_s])
        for ns, dev, ip, mbps in (
            (link.client_ns, dev_c, CLIENT_IP, up_mbps),
            (link.server_ns, dev_s, SERVER_IP, down_mbps),
        ):
            _run(["ip", "link", "set", dev, "netns", ns])
            _run(["ip", "-n", ns, "addr", "add", f"{ip}/30", "dev", dev])
            _run(["ip", "-n", ns, "link", "set", dev, "up"])
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])
            limit = tbf_burst(mbps) + int(mbps * 1e6 / 8 * 0.1)  # 100 ms of queue
            _run(link.command(ns, [
                "tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", f"{mbps * 1e6:.0f}bit",
                "burst", str(tbf_burst(mbps)), "limit", str(limit),
            ]))  # fmt: skip
        yield link
    finally:
        with suppress(OSError, subprocess.SubprocessError):
            subprocess.run(["ip", "link", "del", dev_c], capture_output=True, timeout=20)
        for ns in (link.client_ns, link.server_ns):
            with suppress(OSError, subprocess.SubprocessError):
                subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)


@contextmanager
def probe_server_process(argv_prefix: Sequence[str], listen: str) -> Iterator[str]:
    """A probe server in its own process (``argv_prefix`` e.g. enters a namespace);
    yields its ``host:port`` and terminates it afterwards."""
    argv = [*argv_prefix, sys.executable, "-m", "splitinfer.net.probe", "serve", "--listen", listen]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout is not None else ""
        if not line.startswith("ready "):
            err = proc.stderr.read() if proc.stderr is not None and proc.poll() is not None else ""
            raise ShaperError(f"probe server did not start: {line.strip() or err.strip()}")
        yield line.split()[1]
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def measure_process(
    argv_prefix: Sequence[str], to: str, sizes: Sequence[int], pings: int, repeats: int,
    directions: Sequence[str] = ("up", "down"), timeout_s: float = 300.0,
) -> Measurement:  # fmt: skip
    """Run the probe client in its own process (``argv_prefix`` e.g. enters a namespace)."""
    argv = [
        *argv_prefix, sys.executable, "-m", "splitinfer.net.probe", "measure", "--to", to,
        "--sizes", ",".join(map(str, sizes)), "--pings", str(pings), "--repeats", str(repeats),
        "--directions", ",".join(directions),
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        raise ShaperError(f"probe client failed: {done.stderr.strip()[-2000:]}")
    return Measurement.from_json(done.stdout)


def measure_tbf(
    up_mbps: float, down_mbps: float, sizes: Sequence[int], pings: int = 10, repeats: int = 3
) -> Measurement:
    """Build a tbf link, measure it with a probe server and client in the namespaces."""
    with tbf_link(up_mbps, down_mbps) as link:
        server_prefix = ["ip", "netns", "exec", link.server_ns]
        with probe_server_process(server_prefix, f"{SERVER_IP}:0") as where:
            client_prefix = ["ip", "netns", "exec", link.client_ns]
            return measure_process(client_prefix, where, sizes, pings, repeats)
