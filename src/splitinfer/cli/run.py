"""`splitinfer run`: stream Fashion-MNIST test images through the edge runner to a server."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table


def _table(summary: Any, total: int) -> Table:
    s = summary.to_json()
    table = Table(title=f"splitinfer run: {s['mode']} (measured)", title_justify="left")
    for col in ("images", "FPS", "KB/frame up", "p50 ms", "p95 ms", "head ms", "encode ms",
                "network ms", "server ms", "accuracy", "fallbacks"):  # fmt: skip
        table.add_column(col, justify="right")
    table.add_row(
        f"{s['images']}/{total}", f"{s['fps']:.1f}", f"{s['bytes_up_mean'] / 1024:.3f}",
        f"{s['latency_ms_p50']:.2f}", f"{s['latency_ms_p95']:.2f}", f"{s['head_ms_p50']:.2f}",
        f"{s['encode_ms_p50']:.2f}", f"{s['network_ms_p50']:.2f}", f"{s['server_ms_p50']:.2f}",
        f"{100 * s['accuracy']:.2f}%", str(s["fallbacks"]),
    )  # fmt: skip
    return table


@contextlib.contextmanager
def _via_link(server: str | None, profile: str | None) -> Iterator[str | None]:
    """The URL to use: the server itself, or an in-process link emulator in front of it."""
    if server is None or profile is None:
        yield server
        return
    from splitinfer.net import LinkShaper

    parts = urlsplit(server)
    upstream = f"{parts.hostname}:{parts.port or 80}"
    shaper = LinkShaper.from_profile(profile, "127.0.0.1:0", upstream)
    with shaper.running() as port:
        yield f"{parts.scheme}://127.0.0.1:{port}"


def register(app: Any, console: Console) -> None:
    """Add `run` to ``app``."""

    @app.command("run")
    def run_cmd(
        bundle: Path = typer.Option(..., help="bundle directory"),
        server: str = typer.Option(None, help="server URL, e.g. http://127.0.0.1:8000"),
        mode: str = typer.Option("split", help="split | cloud-only | mobile-only"),
        images: int = typer.Option(200, min=1, max=10000, help="test images to send"),
        link: str = typer.Option(None, help="emulate this link in front of the server (4g...)"),
        token: str = typer.Option(None, envvar="SPLITINFER_TOKEN", help="bearer token"),
        retries: int = typer.Option(2, min=0, help="retries per request"),
        timeout_s: float = typer.Option(10.0, min=0.01, help="per-request timeout"),
        fallback: bool = typer.Option(True, help="fall back to mobile-only when unreachable"),
        json_out: Path = typer.Option(None, "--json", help="write the summary here"),
    ) -> None:
        """Stream Fashion-MNIST test images through the bundle's edge half to a server."""
        from splitinfer.bundle import Bundle
        from splitinfer.edge import EdgeRunner
        from splitinfer.edge.stream import run_stream
        from splitinfer.errors import BadInput
        from splitinfer.train.data import load_fashion_mnist

        if mode not in ("split", "cloud-only", "mobile-only"):
            raise BadInput(f"--mode must be split, cloud-only or mobile-only, got {mode!r}")
        if mode != "mobile-only" and server is None:
            raise BadInput(f"--mode {mode} needs --server URL (see `splitinfer serve`)")
        b = Bundle.load(bundle)
        x, y = load_fashion_mnist("test")
        x, y = x[:images], y[:images]
        with (
            _via_link(server, link) as url,
            EdgeRunner(
                b, url, token=token, retries=retries, timeout_s=timeout_s, fallback=fallback
            ) as runner,
            Live(console=console, refresh_per_second=4) as live,
        ):
            summary = run_stream(runner, x, y, mode,  # type: ignore[arg-type]
                                 progress=lambda s: live.update(_table(s, len(x))))  # fmt: skip
            live.update(_table(summary, len(x)))
        data = {**summary.to_json(), "bundle": b.spec.id, "server": server, "link": link}
        if json_out:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(data, indent=1) + "\n")
            console.print(f"wrote {json_out}")
