"""The measurement tools: probe server/client round trips, and the tbf availability check."""

from __future__ import annotations

import json
import socket

import pytest

from splitinfer.net import ShaperError, tbf
from splitinfer.net.probe import Measurement, ProbeClient, measure, probe_server

pytestmark = pytest.mark.integration  # starts servers, subprocesses or heavy tools


def test_probe_ping_upload_download_and_json_round_trip() -> None:
    with probe_server() as addr:
        with ProbeClient(addr, timeout_s=10) as client:
            assert client.ping(1) > 0 and client.upload(1) > 0 and client.download(1) > 0
        m = measure(addr, [10_000], pings=3, repeats=2)
    assert len(m.ping_s) == 3
    assert [(t.direction, t.nbytes, len(t.seconds)) for t in m.transfers] == [
        ("up", 10_000, 2),
        ("down", 10_000, 2),
    ]
    again = Measurement.from_json(m.to_json())
    assert again == m and json.loads(m.to_json())["to"] == m.to


def test_probe_server_hangs_up_on_an_unknown_op() -> None:
    with probe_server() as addr, socket.create_connection(addr, timeout=10) as sock:
        sock.sendall(b"X" + bytes(8))
        assert sock.recv(1) == b""


def test_tbf_needs_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tbf.os, "geteuid", lambda: 1000)
    reason = tbf.unavailable_reason()
    assert reason is not None and "root" in reason
    with pytest.raises(ShaperError, match="root"), tbf.tbf_link(1.0, 1.0):
        pass


def test_tbf_burst_covers_two_frames_or_a_millisecond() -> None:
    assert tbf.tbf_burst(1.0) == 2 * 1514
    assert tbf.tbf_burst(100.0) == 12_500
