"""`splitinfer link` as a user runs it: prints its settings, proxies, stops on SIGTERM."""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from splitinfer.cli import build_app
from splitinfer.net import BadAddress, BadLinkSettings, BadTrace
from tests.net.servers import echo, serve

pytestmark = pytest.mark.integration  # starts servers, subprocesses or heavy tools

RUN_CLI = [sys.executable, "-c", "from splitinfer.cli import main; main()"]


def read_until(proc: subprocess.Popen[bytes], marker: bytes, timeout_s: float = 20.0) -> str:
    """Stdout of ``proc`` up to ``marker``; fails instead of hanging if it never comes."""
    assert proc.stdout is not None
    out = b""
    deadline = time.monotonic() + timeout_s
    while marker not in out:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([proc.stdout], [], [], max(left, 0))
        chunk = os.read(proc.stdout.fileno(), 4096) if ready else b""
        if not chunk:
            raise AssertionError(f"no {marker!r} from the CLI within {timeout_s} s: {out!r}")
        out += chunk
    return out.decode()


def test_link_runs_until_sigterm_and_proxies() -> None:
    with serve(echo) as (host, port):
        proc = subprocess.Popen(
            [*RUN_CLI, "link", "--listen", "127.0.0.1:0", "--upstream", f"{host}:{port}",
             "--profile", "wifi", "--up", "40", "--rtt", "10"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            shown = read_until(proc, b"running")
            listen = re.search(r"listen\s+\W+127\.0\.0\.1:(\d+)", shown)
            assert listen, shown
            assert "40 Mbps" in shown and "50 Mbps" in shown and "10 ms" in shown
            with socket.create_connection(("127.0.0.1", int(listen.group(1))), timeout=10) as c:
                c.sendall(b"through the cli")
                c.shutdown(socket.SHUT_WR)
                assert c.recv(64) == b"through the cli"
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                out, err = proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                raise
    assert proc.returncode == 0, err.decode()
    assert "stopped: 1 connection(s), 15 B up, 15 B down" in out.decode()


def test_link_bad_parameters_are_typed() -> None:
    runner = CliRunner()
    result = runner.invoke(build_app(), ["link", "--upstream", "nowhere"])
    assert isinstance(result.exception, BadAddress)
    result = runner.invoke(build_app(), ["link", "--upstream", "127.0.0.1:1", "--down", "-5"])
    assert isinstance(result.exception, BadLinkSettings)


def test_link_help_lists_the_overrides() -> None:
    result = CliRunner().invoke(build_app(), ["link", "--help"])
    assert result.exit_code == 0
    for option in ("--profile", "--listen", "--upstream", "--up", "--down", "--rtt"):
        assert option in result.output


def test_link_bad_trace_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("t_s,up_mbps,down_mbps,rtt_ms,loss\n0,1,1,10,0\n3,-1,2,10,0\n")
    result = CliRunner().invoke(
        build_app(), ["link", "--upstream", "127.0.0.1:1", "--trace", str(bad)]
    )
    assert isinstance(result.exception, BadTrace)
    assert "bad.csv line 3: up_mbps must be >= 0" in result.exception.message


def test_link_help_lists_the_trace_options() -> None:
    result = CliRunner().invoke(build_app(), ["link", "--help"])
    for option in ("--trace", "--down-trace", "--loss", "--seed"):
        assert option in result.output
