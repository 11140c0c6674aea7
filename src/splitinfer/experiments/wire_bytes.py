"""Bytes on the wire per inference, per transport (measured with the link emulator).

Every byte above TCP is counted, in both directions, by the link emulator
(:class:`splitinfer.net.LinkShaper`, unlimited rate, no delay) standing between an
:class:`~splitinfer.edge.EdgeRunner` and an in-process server: HTTP/1.1 (one keep-alive
POST per frame, JSON results), gRPC (one bidirectional ``InferStream``) and the WebSocket
stream session (payload only up, binary session results down). Connection setup
(handshakes, hello, close) is included and amortised over the run.

    python -m splitinfer.experiments.wire_bytes --n 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from splitinfer.bundle import Bundle, default_bundle_path
from splitinfer.experiments.config import BenchConfig
from splitinfer.experiments.result import Column, Result, table

NAME = "wire-bytes"
TITLE = "Bytes on the wire per inference: HTTP/1.1, gRPC, WebSocket (measured)"
TRANSPORTS = ("http", "grpc", "ws")


@contextmanager
def serving(bundle: Bundle) -> Iterator[tuple[int, int]]:
    """HTTP (+ WebSocket) and gRPC on 127.0.0.1 free ports over one DataPlane; yields ports."""
    from splitinfer.cloud import DataPlane
    from splitinfer.cloud.grpc import start_grpc_server
    from splitinfer.cloud.server import bound_port, make_server
    from splitinfer.cloud.settings import ServeSettings

    fields: dict[str, Any] = {"bundles": [], "host": "127.0.0.1", "port": 0,
                              "log_level": "warning", "drain_timeout_s": 2}  # fmt: skip
    settings = ServeSettings(**fields)
    dp = DataPlane([bundle], torch_threads=1)
    server = make_server(settings, dp)
    grpc_port: list[int] = []

    async def main() -> None:
        grpc_server, port = await start_grpc_server(dp, host="127.0.0.1", port=0)
        grpc_port.append(port)
        try:
            await server.serve()
        finally:
            await grpc_server.stop(0.5)

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not (server.started and grpc_port):
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the measurement server did not start")
        time.sleep(0.01)
    try:
        yield bound_port(server), grpc_port[0]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_images(n: int) -> torch.Tensor:
    """The first ``n`` Fashion-MNIST test images (synthetic ones without the data set)."""
    from splitinfer.data import load_fashion_mnist, synthetic
    from splitinfer.errors import BadInput

    try:
        return load_fashion_mnist("test")[0][:n]
    except BadInput:  # no data set here: synthetic pictures (the payloads will differ)
        return synthetic(n, seed=0)[0]


def measure(
    bundle: Bundle, images: torch.Tensor, transports: tuple[str, ...] = TRANSPORTS
) -> list[dict[str, Any]]:
    """One row per transport: protocol bytes per inference up and down, and the payload."""
    from splitinfer.edge import EdgeRunner
    from splitinfer.net import LinkShaper

    n = len(images)
    frames = bundle.edge.encode(images)
    payload = statistics.fmean(
        len(bundle.codec.encode(bundle.edge.features(images[i : i + 1]))) for i in range(n)
    )
    frame = statistics.fmean(len(f) for f in frames)
    rows = []
    with serving(bundle) as (http_port, grpc_port):
        for name in transports:
            port = grpc_port if name == "grpc" else http_port
            shaper = LinkShaper(("127.0.0.1", 0), ("127.0.0.1", port), float("inf"),
                                float("inf"), 0.0, name=name)  # fmt: skip
            with shaper.running() as link_port:
                url = f"{name}://127.0.0.1:{link_port}"
                with EdgeRunner(bundle, url, retries=2, fallback=False) as runner:
                    answered = sum(1 for _ in runner.stream(images, stream=True))
                time.sleep(0.3)  # let the close handshakes through
                conns = shaper.connections
            up = sum(c.bytes_up for c in conns) / n
            down = sum(c.bytes_down for c in conns) / n
            rows.append({
                "transport": name, "inferences": n, "answered": answered,
                "connections": len(conns), "payload_bytes": round(payload, 3),
                "frame_bytes": round(frame, 3), "up_bytes": round(up, 3),
                "down_bytes": round(down, 3), "up_over_payload": round(up - payload, 3),
            })  # fmt: skip
    return rows


COLUMNS = [
    Column("transport", "transport"), Column("inferences", "inferences", "measured"),
    Column("up_bytes", "up", "measured", "B/inference"),
    Column("payload_bytes", "of which payload", "measured", "B"),
    Column("up_over_payload", "up - payload", "measured", "B"),
    Column("down_bytes", "down", "measured", "B/inference"),
    Column("connections", "connections", "measured"),
]  # fmt: skip


def run(cfg: BenchConfig, out_dir: Path) -> dict[str, Any]:
    """The bench's experiment: :func:`measure` on the default bundle (or ``bundle``)."""
    from splitinfer.experiments.subjects import resolve

    c = cfg.wire_bytes
    res = Result(NAME, TITLE, config=asdict(c))
    bundle = Bundle.load(resolve(c.bundle) if c.bundle else default_bundle_path())
    with torch_threads(1):
        rows = measure(bundle, test_images(c.inferences))
    caption = (
        f"Bundle {bundle.spec.id}; every byte above TCP in both directions, counted by the "
        "link emulator, connection setup amortised over the run. HTTP/1.1: one keep-alive POST "
        "per frame, JSON top-5; gRPC: one InferStream, top-5; WebSocket: the stream session, "
        "payload only up, binary top-1 result down."
    )
    res.tables.append(table("wire-bytes", "Bytes on the wire per inference", COLUMNS, rows,
                            caption))  # fmt: skip
    ws = next((r for r in rows if r["transport"] == "ws"), None)
    res.summary = (
        f"WebSocket: payload + {ws['up_over_payload']:.2f} B up, {ws['down_bytes']:.2f} B down "
        f"per inference over {ws['inferences']} (measured)." if ws else f"{len(rows)} rows."
    )  # fmt: skip
    res.data = {"rows": rows}
    return res.save(out_dir)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| transport | inferences | up B/inference | of which payload | up - payload "
        "| down B/inference |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['transport']} | {r['inferences']} | {r['up_bytes']:.2f} | "
            f"{r['payload_bytes']:.2f} | {r['up_over_payload']:.2f} | {r['down_bytes']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="inferences per transport")
    ap.add_argument("--bundle", default=None, help="bundle directory (default: the default bundle)")
    ap.add_argument("--json", default=None, help="write the rows to this JSON file")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    bundle = Bundle.load(args.bundle or default_bundle_path())
    rows = measure(bundle, test_images(args.n))
    print(markdown(rows))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"bundle": bundle.spec.id, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
