"""EdgeRunner over ws:// across a server restart: every id answered exactly once.

Server A answers a few payloads and then hangs on the rest (as a server that is about to
die does); the test starts server B on the same port (SO_REUSEPORT) and stops A, which
drops its sessions unanswered. The runner sends the unanswered ids again on a new
connection, which only B can accept now.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from splitinfer.bundle import Bundle
from splitinfer.cloud import DataPlane
from splitinfer.cloud.server import DrainingServer, make_server, reuse_port_socket
from splitinfer.cloud.settings import ServeSettings
from splitinfer.data import synthetic
from splitinfer.edge import EdgeRunner
from splitinfer.protocol import Result
from tests.cloud.conftest import CODEC, build
from tests.cloud.helpers import CAP, TOKEN


def settings(port: int) -> ServeSettings:
    return ServeSettings(
        bundles=[], host="127.0.0.1", port=port, token=TOKEN, max_body_bytes=CAP,
        log_level="warning", drain_timeout_s=5,
    )  # fmt: skip


@contextmanager
def started(dp: DataPlane, port: int) -> Iterator[DrainingServer]:
    server = make_server(settings(port), dp)
    sock = reuse_port_socket("127.0.0.1", port)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


class RestartingDataPlane(DataPlane):
    """Answers ``after`` requests, then signals ``restart`` and never answers again."""

    def __init__(self, bundle: Bundle, after: int, restart: threading.Event) -> None:
        super().__init__([bundle])
        self.after, self.restart, self.answered = after, restart, Counter[int]()
        self.taken = 0

    async def infer_payload(
        self, b: Bundle, payload: bytes, request_id: int, k: int | None = None
    ) -> Result:
        self.taken += 1
        if self.taken > self.after:
            self.restart.set()  # the test starts B, then stops A: this one is never answered
            await asyncio.Event().wait()
        result = await super().infer_payload(b, payload, request_id, k)
        self.answered[request_id] += 1
        return result


def test_every_id_is_answered_once_across_a_restart() -> None:
    bundle = build("ws-restart", CODEC)
    images = synthetic(40, seed=5)[0]
    with torch.no_grad():
        full = bundle.full(bundle.spec.preprocess(images)).argmax(1).tolist()
    probe = reuse_port_socket("127.0.0.1", 0)
    port = probe.getsockname()[1]
    probe.close()
    restart, done = threading.Event(), threading.Event()
    a = RestartingDataPlane(bundle, after=5, restart=restart)
    b = DataPlane([bundle])

    def successor(server_a: DrainingServer) -> None:
        restart.wait(30)
        with started(b, port):  # B listens beside A, then A goes
            server_a.should_exit = server_a.force_exit = True
            done.wait(60)

    with started(a, port) as server_a:
        watcher = threading.Thread(target=successor, args=(server_a,), daemon=True)
        watcher.start()
        with EdgeRunner(bundle, f"ws://127.0.0.1:{port}", token=TOKEN, timeout_s=3) as runner:
            results = dict(runner.stream(images, stream=True))
        done.set()
        watcher.join(timeout=20)
    assert restart.is_set(), "the restart never happened"
    ids = [r.request_id for r in results.values()]
    assert sorted(results) == list(range(len(images)))
    assert len(set(ids)) == len(images)  # each id once
    assert [results[i].prediction for i in range(len(images))] == full
    assert not any(r.fell_back for r in results.values())
    assert any(r.attempts > 1 for r in results.values())  # some went to B after A left
    assert sum(a.answered.values()) == 5  # A answered five; B the rest
