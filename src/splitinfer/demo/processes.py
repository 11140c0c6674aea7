"""The demo's child processes: the server (:class:`ServerProcess`, :func:`serve_child`), one
link worker per emulated device (:class:`LinkWorker`, :func:`link_worker_main`), and the
parent's side of the workers' protocol (:class:`_Jobs`). ``python -m splitinfer.demo``
(``__main__.py``) starts a child's main. How a child stops and how the server's readiness
is awaited are the harness's (:mod:`splitinfer.harness.process`), as for every launcher;
the demo's server differs in that the parent binds its socket and hands it over."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import os
import queue
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import torch

from splitinfer.bundle import Bundle
from splitinfer.demo.config import DemoConfig, DemoFailed, ProgressFn
from splitinfer.demo.measure import accuracy_counts, measure_link
from splitinfer.errors import SplitInferError
from splitinfer.harness import process

# --- child processes: the server, and one worker per link -----------------------------


def _import_root() -> str:
    """The folder this ``splitinfer`` was imported from (a checkout's ``src/`` or a
    site-packages), so a child imports the same code as its parent."""
    from importlib.resources import files

    return str(Path(str(files("splitinfer"))).parent)


class _Child:
    """A child process this demo owns: stopped on exit, on error, on Ctrl-C (SIGINT reaches
    the whole process group) and, when this parent dies, by its stdin closing."""

    def __init__(self, name: str, log_path: Path | None) -> None:
        self.name = name
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def _spawn(self, args: list[str], pass_fds: tuple[int, ...] = (), stdout: Any = None) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_import_root(), env.get("PYTHONPATH")]))
        self._log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "splitinfer.demo", *args], stdin=subprocess.PIPE,
            stdout=stdout if stdout is not None else self._log, stderr=self._log,
            pass_fds=pass_fds, env=env,
        )  # fmt: skip

    def cpu_seconds(self) -> float:
        """User + system CPU seconds the child has used (Linux ``/proc``; 0 elsewhere)."""
        return 0.0 if self.proc is None else process.cpu_seconds(self.proc.pid)

    def log_tail(self, lines: int = 6) -> str:
        if self.log_path is None or not self.log_path.is_file():
            return "(no log kept: pass an output folder)"
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:]) or "(empty log)"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def close(self, graceful: bool = True) -> None:
        """EOF on stdin (the child finishes up and exits; ``graceful`` waits 5 s for it), then
        SIGTERM, then SIGKILL, 5 s apart."""
        proc, self.proc = self.proc, None
        if proc is not None:
            process.stop(proc, grace_s=5.0 if graceful else 0.0)
            self._finish(proc)
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()
        self._log = None

    def _finish(self, proc: subprocess.Popen[bytes]) -> None:
        """After the child has exited: release what reads from it."""
        if proc.stdout:
            proc.stdout.close()

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self.close(graceful=exc_type is None)


class ServerProcess(_Child):
    """splitinfer's HTTP server for one bundle in a child process, on a loopback port.

    The parent binds and listens first and hands the socket over (``pass_fds``), so the
    port is known at once and never raced for. Use as a context manager.
    """

    def __init__(
        self, bundle_path: Path, log_path: Path | None, torch_threads: int, ui: bool = False
    ) -> None:
        super().__init__("server", log_path)
        self.bundle_path = bundle_path
        self.torch_threads = torch_threads
        self.ui = ui
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", 0))
            sock.listen(128)
            self.port = sock.getsockname()[1]
            fd = sock.fileno()
            self._spawn(
                ["serve", "--fd", str(fd), "--bundle", str(self.bundle_path),
                 "--torch-threads", str(self.torch_threads), *(["--ui"] if self.ui else [])],
                pass_fds=(fd,),
            )  # fmt: skip
        finally:
            sock.close()  # the child holds its own copy

    def wait_ready(self, timeout_s: float) -> None:
        """Block until ``/readyz`` answers 200; :class:`DemoFailed` if the child dies first
        or stays unready for ``timeout_s``."""
        try:
            process.wait_ready(f"{self.url}/readyz", self.alive, timeout_s, self.log_tail)
        except process.ServerStartFailed as err:
            raise DemoFailed(err.message) from None

    def __enter__(self) -> ServerProcess:
        self.start()
        return self


def serve_child(fd: int, bundle_path: str, torch_threads: int, ui: bool = False) -> None:
    """The server child's main: serve ``bundle_path`` on the inherited listening socket."""
    from splitinfer.cloud.server import build_dataplane, make_server
    from splitinfer.cloud.settings import ServeSettings

    sock = socket.socket(fileno=fd)
    fields: dict[str, Any] = {
        "bundles": [Path(bundle_path)], "host": "127.0.0.1", "port": 0, "token": None,
        "torch_threads": torch_threads, "log_level": "warning", "drain_timeout_s": 2.0,
        "ui": ui,
    }  # fmt: skip
    settings = ServeSettings(**fields)  # explicit values beat SPLITINFER_* variables
    server = make_server(settings, build_dataplane(settings))

    def exit_on_eof() -> None:
        sys.stdin.buffer.read()  # returns at EOF: the parent closed the pipe or died
        server.dataplane.begin_drain()
        server.should_exit = True

    threading.Thread(target=exit_on_eof, name="parent-watch", daemon=True).start()
    server.run(sockets=[sock])


class LinkWorker(_Child):
    """A child process that measures links (one emulated device): it loads the bundle, says
    ``ready``, then runs each job the parent writes to its stdin (one JSON line) and answers
    with JSON lines on its stdout (``tick`` per image, ``result`` or ``error``)."""

    def __init__(
        self, name: str, bundle_path: Path, port: int, config: DemoConfig,
        events: queue.Queue[tuple[str, dict[str, Any]]], log_path: Path | None,
    ) -> None:  # fmt: skip
        super().__init__(name, log_path)
        self.bundle_path, self.port, self.config, self.events = bundle_path, port, config, events
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        c = self.config
        self._spawn(
            ["link-worker", "--bundle", str(self.bundle_path), "--port", str(self.port),
             "--warmup", str(c.warmup), "--timeout", str(c.request_timeout_s),
             "--torch-threads", str(c.torch_threads),
             "--device", c.device if c.emulate_device else "host",
             "--device-method", c.device_method],
            stdout=subprocess.PIPE,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, name=f"{self.name}-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        proc = self.proc
        if proc is None or proc.stdout is None:
            return
        with contextlib.suppress(ValueError, OSError):  # also: stdout closed under us
            for line in proc.stdout:
                with contextlib.suppress(ValueError):
                    self.events.put((self.name, json.loads(line)))
        self.events.put((self.name, {"event": "exit", "returncode": proc.wait()}))

    def submit(
        self, job: str, images: torch.Tensor, labels: torch.Tensor, settings: Any = None
    ) -> None:
        """Queue a job: measure a link (``settings``: its LinkSettings) or, without settings,
        count each mode's correct predictions on ``images``."""
        if self.proc is None or self.proc.stdin is None:
            raise DemoFailed(f"{self.name} is not running")
        line = json.dumps({
            "job": job, "settings": dataclasses.asdict(settings) if settings else None,
            "shape": list(images.shape), "labels": [int(v) for v in labels],
            "images": base64.b64encode(images.contiguous().numpy().tobytes()).decode(),
        })  # fmt: skip
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def _finish(self, proc: subprocess.Popen[bytes]) -> None:
        if self._reader is not None:
            self._reader.join(5)  # it sees EOF now that the child has exited
            self._reader = None
        super()._finish(proc)

    def __enter__(self) -> LinkWorker:
        self.start()
        return self


def link_worker_main(
    bundle_path: str, port: int, warmup: int, timeout_s: float, torch_threads: int,
    device: str = "host", device_method: str = "cgroup",
) -> None:  # fmt: skip
    """The link worker's main (see :class:`LinkWorker`); with a ``device`` other than the
    host, its edge work runs under that device's CPU quota (one torch thread)."""
    with contextlib.ExitStack() as stack:
        emulation = None
        if device != "host":
            from splitinfer.device import for_bundle

            torch.set_num_threads(1)  # the quota is a share of one host core
            emulation = stack.enter_context(
                for_bundle(device, Bundle.load(bundle_path), method=device_method)
            )
            print(emulation.describe(), file=sys.stderr, flush=True)  # the worker's log
        _link_worker(bundle_path, port, warmup, timeout_s, torch_threads, emulation)


def _link_worker(
    bundle_path: str, port: int, warmup: int, timeout_s: float, torch_threads: int,
    emulation: Any,
) -> None:  # fmt: skip
    from splitinfer.net import LinkSettings

    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray prints go to the log, never into the protocol
    lock = threading.Lock()

    def emit(event: dict[str, Any]) -> None:
        with lock:
            proto.write(json.dumps(event) + "\n")

    if emulation is None:
        torch.set_num_threads(torch_threads)
    sys.setswitchinterval(0.001)  # the emulator's timers share this interpreter
    bundle = Bundle.load(bundle_path)
    emit({"event": "ready"})
    for line in sys.stdin:
        job = json.loads(line)
        name = job["job"]
        raw = bytearray(base64.b64decode(job["images"]))
        images = torch.frombuffer(raw, dtype=torch.uint8).view(tuple(job["shape"]))
        labels = torch.tensor(job["labels"], dtype=torch.int64)
        done = [0]

        def tick(units: int | None = None, job_name: str = name, done: list[int] = done) -> None:
            done[0] = done[0] + 1 if units is None else units
            emit({"event": "tick", "job": job_name, "done": done[0]})

        try:
            result: dict[str, Any]
            if job["settings"] is None:  # accuracy is not a device measurement: host speed
                with emulation.outside() if emulation is not None else contextlib.nullcontext():
                    result = accuracy_counts(bundle, images, labels, progress=tick)
            else:
                result = measure_link(
                    bundle, ("127.0.0.1", port), LinkSettings(**job["settings"]), images,
                    labels, warmup=warmup, timeout_s=timeout_s, tick=tick, device=emulation,
                ).to_json()  # fmt: skip
        except SplitInferError as err:
            emit({"event": "error", "job": name, "message": f"[{err.code}] {err.message}"})
            return
        except Exception as err:
            emit({"event": "error", "job": name, "message": f"{type(err).__name__}: {err}"})
            return
        emit({"event": "result", "job": name, "result": result})


Event = tuple[str, dict[str, Any]]


class _Jobs:
    """Jobs handed to link workers (each runs its own in order) and their results.

    Progress is the sum of every job's ``done`` units plus the parent's own (:meth:`own`).
    A worker's error, its exit with a job pending, or ``silence_s`` without any event
    stop the demo with a :class:`DemoFailed` that says which and why.
    """

    def __init__(
        self, events: queue.Queue[Event], tell: ProgressFn, task: str, total: int,
        silence_s: float,
    ) -> None:  # fmt: skip
        self.events, self.tell, self.task = events, tell, task
        self.total, self.silence_s = total, silence_s
        self.owner: dict[str, LinkWorker] = {}
        self.done: dict[str, int] = {}
        self.results: dict[str, dict[str, Any]] = {}
        self._own = 0
        tell(task, 0, total)

    def submit(
        self, worker: LinkWorker, job: str, images: torch.Tensor, labels: torch.Tensor,
        settings: Any = None,
    ) -> None:  # fmt: skip
        worker.submit(job, images, labels, settings)
        self.owner[job] = worker

    def own(self, units: int) -> None:
        """Progress of the work the parent does itself; also takes in the workers' news."""
        self._own = units
        self._pump(0.0)

    def wait(self) -> dict[str, dict[str, Any]]:
        """Block until every job has answered; results in submission order."""
        while len(self.results) < len(self.owner):
            self._pump(self.silence_s)
        return {job: self.results[job] for job in self.owner}

    def _pump(self, block_s: float) -> None:
        try:
            item = self.events.get(timeout=block_s) if block_s else self.events.get_nowait()
        except queue.Empty:
            if block_s:
                pending = sorted(set(self.owner) - set(self.results))
                raise DemoFailed(
                    f"no word from the link workers in {block_s:g} s (pending: "
                    f"{', '.join(pending)}); giving up"
                ) from None
            return
        while True:
            self._handle(*item)
            try:
                item = self.events.get_nowait()
            except queue.Empty:
                break
        self.tell(self.task, self._own + sum(self.done.values()), self.total)

    def _handle(self, name: str, ev: dict[str, Any]) -> None:
        kind, job = ev.get("event"), ev.get("job", "")
        if kind == "tick" and job in self.owner:
            self.done[job] = int(ev["done"])
        elif kind == "result" and job in self.owner:
            self.results[job] = ev["result"]
        elif kind == "error":
            raise DemoFailed(f"{job} ({name}): {ev.get('message')}")
        elif kind == "exit":
            pending = [j for j, w in self.owner.items() if w.name == name and j not in self.results]
            if pending:
                w = self.owner[pending[0]]
                raise DemoFailed(
                    f"{name} exited ({ev.get('returncode')}) with {', '.join(pending)} "
                    f"pending: {w.log_tail()}"
                )
