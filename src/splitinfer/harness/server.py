"""Start, probe, signal and measure a ``splitinfer serve`` subprocess: the one server
launcher of the tests, the reliability runs and the bench (readiness, then SIGTERM and
SIGKILL on the way out), and free loopback ports.

    with serve(bundle_dir, token="t0k", grpc=True) as server:
        server.url, server.grpc_target, server.rss_kb(), server.log_text()

The token travels in ``SPLITINFER_TOKEN`` (never on the command line, where ``ps`` shows
it). Everything the server prints goes to a log file, so checks can grep it.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from splitinfer.harness import process
from splitinfer.harness.process import ServerStartFailed

__all__ = ["Endpoint", "ServeProcess", "ServerStartFailed", "free_port", "launch", "serve",
           "start", "wait_ready"]  # fmt: skip

from splitinfer.protocol import FRAME_TYPE

SERVE = [sys.executable, "-c", "from splitinfer.cli import main; main()", "serve"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listened on a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_status_kb(pid: int, key: str) -> int:
    """A ``kB`` field of /proc/<pid>/status (``VmRSS``, ``VmHWM``); 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


@dataclass
class Endpoint:
    """Where a server listens and how to talk to it (any server: a subprocess, or one a
    test runs in a thread)."""

    port: int
    grpc_port: int | None = None
    token: str | None = None
    tls_cert: Path | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def headers(self) -> dict[str, str]:
        """Auth + frame content type for HTTP infer calls."""
        auth = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**auth, "Content-Type": FRAME_TYPE}

    @property
    def grpc_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()

    def verify(self) -> ssl.SSLContext | bool:
        """What httpx should verify the server with (the test's own CA when TLS is on)."""
        if self.tls_cert is None:
            return True
        return ssl.create_default_context(cafile=str(self.tls_cert))

    def rss_kb(self) -> int:
        return 0  # unknown: overridden where the process is known

    def hwm_kb(self) -> int:
        return 0

    def alive(self) -> bool:
        return True


@dataclass
class ServeProcess(Endpoint):
    """A running ``splitinfer serve`` and how to reach it."""

    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = Path(os.devnull)
    args: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss_kb(self) -> int:
        return proc_status_kb(self.pid, "VmRSS")

    def hwm_kb(self) -> int:
        """Peak RSS of the process so far (VmHWM)."""
        return proc_status_kb(self.pid, "VmHWM")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def terminate(self, timeout_s: float = 60.0) -> int:
        """SIGTERM, then wait; SIGKILL if it outlives ``timeout_s``. Returns the exit code."""
        assert self.proc is not None
        return process.stop(self.proc, grace_s=0.0, term_s=timeout_s)

    def kill(self) -> int:
        """SIGKILL: no drain, no goodbye."""
        assert self.proc is not None
        if self.alive():
            self.proc.kill()
        return self.proc.wait()


def start(bundles: Sequence[Path], **kwargs: Any) -> ServeProcess:
    """:func:`launch` ``splitinfer serve`` and wait until its /readyz is 200."""
    ready_timeout_s = float(kwargs.pop("ready_timeout_s", 180.0))
    server = launch(bundles, **kwargs)
    wait_ready(server, ready_timeout_s)
    return server


def launch(
    bundles: Sequence[Path],
    *,
    port: int | None = None,
    grpc: bool = True,
    grpc_port: int | None = None,
    token: str | None = None,
    extra: Sequence[str] = (),
    log_path: Path | None = None,
    tls: tuple[Path, Path] | None = None,
    env: Mapping[str, str] | None = None,
) -> ServeProcess:
    """Start ``splitinfer serve`` for ``bundles`` on loopback; do not wait for it (see
    :func:`wait_ready`), so several can boot at once.

    ``env`` adds ``SPLITINFER_*`` settings that have no flag (e.g. ``MAX_BODY_BYTES``);
    the caller's own ``SPLITINFER_*`` variables are not passed on.
    """
    port = port or free_port()
    if grpc:
        grpc_port = grpc_port or free_port()
    args = [*SERVE, "--port", str(port)]
    for b in bundles:
        args += ["--bundle", str(b)]
    if grpc_port is not None:
        args += ["--grpc-port", str(grpc_port)]
    if tls is not None:
        args += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
    args += list(extra)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SPLITINFER_")}
    environ.update(env or {}, PYTHONUNBUFFERED="1")
    if token is not None:
        environ["SPLITINFER_TOKEN"] = token
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix="splitinfer-serve-", suffix=".log")
        os.close(fd)
        log_path = Path(name)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(args, env=environ, stdout=log, stderr=subprocess.STDOUT)
    return ServeProcess(port, grpc_port, token, tls[0] if tls else None, proc, log_path, args)


def wait_ready(server: ServeProcess, timeout_s: float = 180.0) -> None:
    """Poll /readyz until 200; :class:`ServerStartFailed` with the end of the log if the
    server dies or stalls (a stalled one is killed)."""
    try:
        process.wait_ready(f"{server.url}/readyz", server.alive, timeout_s,
                           lambda: server.log_text()[-3000:], verify=server.verify(),
                           every_s=0.1)  # fmt: skip
    except ServerStartFailed:
        server.kill()
        raise


@contextmanager
def serve(bundles: Sequence[Path] | Path, **kwargs: object) -> Iterator[ServeProcess]:
    """:func:`start` as a context manager; SIGTERM (then SIGKILL) on exit."""
    paths = [bundles] if isinstance(bundles, Path) else list(bundles)
    server = start(paths, **kwargs)
    try:
        yield server
    finally:
        server.terminate()
