"""Command `link`: run the link emulator (a shaping TCP proxy) until Ctrl-C or SIGTERM."""

from __future__ import annotations

import logging
import math
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
    table.add_row("up (client -> upstream)", rate(s.up_mbps))
    table.add_row("down (upstream -> client)", rate(s.down_mbps))
    table.add_row("RTT", f"{s.rtt_ms:g} ms ({s.rtt_ms / 2:g} ms each way)")
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
        verbose: bool = typer.Option(False, "--verbose", "-v", help="log every connection"),
    ) -> None:
        """Emulate a link between clients and a server: bandwidth each way and RTT, for real."""
        from splitinfer.net import DEFAULT_BURST_BYTES, LinkShaper

        logging.basicConfig(
            level=logging.INFO if verbose else logging.WARNING,
            format="%(asctime)s %(levelname)s %(message)s",
        )
        shaper = LinkShaper.from_profile(
            profile, listen, upstream, up_mbps=up, down_mbps=down, rtt_ms=rtt,
            burst_bytes=DEFAULT_BURST_BYTES if burst is None else burst,
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
