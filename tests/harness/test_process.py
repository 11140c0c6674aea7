"""The harness's launcher: how a child stops, and a server that cannot start is a typed
error carrying its log."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from splitinfer.harness import process
from splitinfer.harness import server as srv

pytestmark = pytest.mark.integration  # starts subprocesses


def child(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)


def test_a_child_that_watches_its_stdin_stops_at_eof() -> None:
    proc = child("import sys; sys.stdin.buffer.read(); sys.exit(3)")
    assert process.stop(proc, grace_s=30.0) == 3


def test_a_child_that_ignores_its_stdin_gets_sigterm() -> None:
    proc = child("import time; time.sleep(60)")
    assert process.stop(proc, grace_s=0.2, term_s=30.0) == -signal.SIGTERM


def test_a_child_that_ignores_sigterm_gets_sigkill() -> None:
    code = ("import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('armed', flush=True); time.sleep(60)")  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"armed\n"
    assert process.stop(proc, grace_s=0.0, term_s=0.5) == -signal.SIGKILL
    proc.stdout.close()


def test_a_server_that_cannot_start_is_a_typed_error_with_its_log(tmp_path: Path) -> None:
    server = srv.launch([tmp_path / "no-bundle"], grpc=False, log_path=tmp_path / "serve.log")
    with pytest.raises(srv.ServerStartFailed, match="exited during start-up") as info:
        srv.wait_ready(server, timeout_s=120)
    assert info.value.code == "server_start_failed"
    assert "no-bundle" in info.value.message  # the end of the server's own log
    assert not server.alive()
