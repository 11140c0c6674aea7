"""Command `link`: run the link emulator (a shaping TCP proxy) until Ctrl-C or SIGTERM."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table


def settings_table(shaper: Any) -> Table:
    """The active settings, as the proxy applies them."""
    s = shaper.settings
    table = Table(title=f"splitinfer link {s.name}", title_justify="left", show_header=False)
    table.add_column("setting")
    table.add_column("value")

    def rate(mbps: float) -> str:
        return "unlimited" if math.isinf(mbps) else f"{mbps:g} Mbps (payload)"

    from splitinfer.net import format_address

    table.add_row("listen", format_address(shaper.address))
    table.add_row("upstream", format_address(shaper.upstream))
    trace = shaper.schedule if s.trace is not None else None
    if trace is not None:
        table.add_row("trace", trace.describe())
    csv = trace is not None and trace.format == "csv"
    up = f"follows {s.trace}" if s.trace else rate(s.up_mbps)
    down = f"follows {s.down_trace}" if s.down_trace else rate(s.down_mbps)
    table.add_row("up (client -> upstream)", "from the trace" if csv else up)
    table.add_row("down (upstream -> client)", "from the trace" if csv else down)
    if not csv:
        table.add_row("RTT", f"{s.rtt_ms:g} ms ({s.rtt_ms / 2:g} ms each way)")
        table.add_row("loss", f"{s.loss:g} per 1500 B segment (costs a resend and one RTT)")
    table.add_row("burst", f"{s.burst_bytes} B")
    return table


def register(app: Any, console: Console) -> None:
    """Add `link` to ``app``."""

    @app.command("link")
    def link_cmd(
        upstream: str = typer.Option(..., help="where to forward, HOST:PORT (the server)"),
        listen: str = typer.Option("127.0.0.1:9001", help="where clients connect, HOST:PORT"),
        profile: str = typer.Option(
            "4g", help="link profile: 3g, 4g, wifi, or custom:up=MBPS,down=MBPS,rtt=MS"
        ),
        up: float = typer.Option(None, "--up", help="override the uplink rate (Mbps)"),
        down: float = typer.Option(None, "--down", help="override the downlink rate (Mbps)"),
        rtt: float = typer.Option(None, "--rtt", help="override the round-trip time (ms)"),
        burst: int = typer.Option(None, "--burst", help="token-bucket depth (bytes)"),
        loss: float = typer.Option(
            0.0,
            "--loss",
            help="probability a 1500 B segment is lost: it costs a resend and "
            "one RTT (docs/link-emulator.md); a CSV trace sets its own",
        ),
        trace: Path = typer.Option(
            None,
            "--trace",
            help="follow a trace: CSV t_s,up_mbps,down_mbps,rtt_ms,loss "
            "(holds its last row), or Mahimahi (ms per 1500 B delivery, loops) for the uplink",
        ),
        down_trace: Path = typer.Option(
            None, "--down-trace", help="Mahimahi trace for the downlink (with a Mahimahi --trace)"
        ),
        seed: int = typer.Option(None, "--seed", help="seed of the loss model (default: random)"),
        verbose: bool = typer.Option(False, "--verbose", "-v", help="log every connection"),
    ) -> None:
        """Emulate a link between clients and a server: bandwidth each way and RTT, for real;
        fixed, or following a --trace file."""
        from splitinfer.net import DEFAULT_BURST_BYTES, LinkShaper

        logging.basicConfig(
            level=logging.INFO if verbose else logging.WARNING,
            format="%(asctime)s %(levelname)s %(message)s",
        )
        shaper = LinkShaper.from_profile(
            profile, listen, upstream, up_mbps=up, down_mbps=down, rtt_ms=rtt,
            burst_bytes=DEFAULT_BURST_BYTES if burst is None else burst, loss=loss,
            trace=None if trace is None else str(trace),
            down_trace=None if down_trace is None else str(down_trace), seed=seed,
        )  # fmt: skip

        def started() -> None:
            console.print(settings_table(shaper))
            console.print("running: Ctrl-C or SIGTERM stops it", highlight=False)

        shaper.run_until_signal(on_started=started)
        conns = shaper.connections
        console.print(
            f"stopped: {len(conns)} connection(s), {sum(c.bytes_up for c in conns)} B up, "
            f"{sum(c.bytes_down for c in conns)} B down",
            highlight=False,
        )
