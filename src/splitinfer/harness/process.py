"""Child processes the harness owns: how they stop, and how to wait until one is ready.

    stop(proc, grace_s=5.0)        # stdin EOF, then SIGTERM, then SIGKILL, 5 s apart
    wait_ready(url + "/readyz", alive, timeout_s, log_tail)   # ServerStartFailed if not

Every launcher uses these two: ``splitinfer serve`` under test
(:mod:`splitinfer.harness.server`) and the demo's server and link workers
(:mod:`splitinfer.demo.processes`).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from splitinfer.errors import SplitInferError


class ServerStartFailed(SplitInferError):
    """A server process exited or never became ready (the message carries the end of its
    log)."""

    code = "server_start_failed"


def stop(proc: subprocess.Popen[Any], grace_s: float = 5.0, term_s: float = 5.0) -> int:
    """Stop ``proc`` and return its exit code: close its stdin (a child that watches it
    finishes up and exits) and wait ``grace_s``; then SIGTERM and wait ``term_s``; then
    SIGKILL. A process already gone just has its code read."""
    with contextlib.suppress(OSError):
        if proc.stdin:
            proc.stdin.close()
    for signal_it, wait_s in ((None, grace_s), (proc.terminate, term_s), (proc.kill, None)):
        if signal_it is not None and proc.poll() is None:
            signal_it()
        with contextlib.suppress(subprocess.TimeoutExpired):
            return proc.wait(wait_s)
    return proc.wait()  # not reached: the SIGKILL step waits without a limit


def wait_ready(
    url: str,
    alive: Callable[[], bool],
    timeout_s: float,
    log_tail: Callable[[], str] = lambda: "",
    verify: Any = True,
    every_s: float = 0.05,
) -> None:
    """Poll ``url`` until it answers 200. :class:`ServerStartFailed` (with ``log_tail()``)
    when ``alive()`` turns false first or ``timeout_s`` passes."""
    import httpx

    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=5.0, verify=verify) as client:
        while time.monotonic() < deadline:
            if not alive():
                raise ServerStartFailed(f"the server exited during start-up: {log_tail()}")
            with contextlib.suppress(httpx.TransportError):
                if client.get(url).status_code == 200:
                    return
            time.sleep(every_s)
    raise ServerStartFailed(f"the server was not ready within {timeout_s:g} s: {log_tail()}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` has used (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
