"""`splitinfer run`: stream images through the edge runner to a server, with a live table."""

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

from splitinfer.cli.common import warn

_FAMILY = {
    "http": "http",
    "https": "http",
    "grpc": "grpc",
    "grpcs": "grpc",
    "ws": "ws",
    "wss": "ws",
}
_DEFAULT_PORT = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def server_url(server: str | None, transport: str | None) -> str | None:
    """``--server`` with the scheme ``--transport`` implies (http:// by default)."""
    from splitinfer.errors import BadInput

    if transport not in (None, "http", "grpc", "ws"):
        raise BadInput(f"--transport must be http, grpc or ws, got {transport!r}")
    if server is None:
        return None
    scheme = urlsplit(server).scheme.lower() if "://" in server else ""
    if not scheme:
        return f"{transport or 'http'}://{server}"
    family = _FAMILY.get(scheme)
    if family is None:
        raise BadInput(f"--server {server!r}: use http(s)://, grpc(s):// or ws(s)://HOST:PORT")
    if transport is not None and transport != family:
        raise BadInput(
            f"--transport {transport} but --server {server!r} is {scheme}://; "
            f"drop one, or point --server at the {transport} port"
        )
    return server


def _ms(v: float) -> str:
    return f"{v:.2f}"


#: the live table's columns: (header, summary key or None, shown without --wide)
_COLUMNS = (
    ("images", None, True), ("FPS", "fps", True), ("KB/frame", "bytes_up_mean", True),
    ("p50 ms", "latency_ms_p50", True), ("p95 ms", "latency_ms_p95", True),
    ("head ms", "head_ms_p50", False), ("enc ms", "encode_ms_p50", False),
    ("net ms", "network_ms_p50", False), ("srv ms", "server_ms_p50", False),
    ("acc %", "accuracy", True), ("fell back", "fallbacks", True), ("retries", "retries", False),
)  # fmt: skip


def ran_what(summary: Any) -> str:
    """What actually ran: the mode asked for, or how many fell back to mobile-only."""
    s = summary.to_json()
    if not s["fallbacks"]:
        return ""
    if s["fallbacks"] == s["images"]:
        return "; ALL ran mobile-only (fallback)"
    return f"; {s['fallbacks']} of {s['images']} ran mobile-only (fallback)"


def _table(summary: Any, total: int, what: str, wide: bool = False) -> Table:
    """The live table; fits 80 columns (``wide``: every column, for a wider terminal)."""
    s = summary.to_json()
    caption = None
    if s["decision"]:
        d = s["decision"]
        caption = (
            f"auto: {d['mode']} for link {d['link']}, device {d['device']}: "
            f"{d['predicted_ms']:.2f} ms MODELED; the columns are measured"
        )
        if s.get("replan") is not None:
            ran = ", ".join(f"{k} {v}" for k, v in s["ran"].items())
            caption += f"; re-planning: {s['switches']} switch(es), ran {ran}"
    table = Table(title=f"splitinfer run: {what} (measured){ran_what(summary)}",
                  title_justify="left", caption=caption, caption_justify="left")  # fmt: skip
    cells = {
        "images": f"{s['images']}/{total}", "fps": f"{s['fps']:.1f}",
        "bytes_up_mean": f"{s['bytes_up_mean'] / 1024:.3f}",
        "accuracy": "-" if s["accuracy"] is None else f"{100 * s['accuracy']:.2f}",
        "fallbacks": str(s["fallbacks"]), "retries": str(s["retries"]),
    }  # fmt: skip
    row = []
    for header, key, default in _COLUMNS:
        if default or wide:
            table.add_column(header, justify="right", no_wrap=True)
            row.append(cells.get(key or "images") or _ms(s[key or "images"]))
    table.add_row(*row)
    return table


def fallback_cause(summary: Any) -> str:
    """The most common reason requests fell back (their last failed attempt's error)."""
    from collections import Counter

    causes = Counter(
        r.errors[-1].split(": ", 1)[-1] if r.errors else "unknown"
        for r in summary.results
        if r.fell_back
    )
    return causes.most_common(1)[0][0] if causes else "unknown"


@contextlib.contextmanager
def _via_link(
    server: str | None, profile: str | None, trace: Path | None = None
) -> Iterator[str | None]:
    """The URL to use: the server itself, or an in-process link emulator in front of it."""
    if server is None or profile is None:
        yield server
        return
    from splitinfer.errors import BadInput
    from splitinfer.net import LinkShaper

    parts = urlsplit(server)
    port = parts.port or _DEFAULT_PORT.get(parts.scheme)
    if port is None:
        raise BadInput(f"--server {server!r} needs a port to put the emulated link in front")
    shaper = LinkShaper.from_profile(
        profile, "127.0.0.1:0", f"{parts.hostname}:{port}",
        trace=None if trace is None else str(trace),
    )  # fmt: skip
    with shaper.running() as local:
        yield f"{parts.scheme}://127.0.0.1:{local}"


@contextlib.contextmanager
def _emulated(
    device: str, bundle: Any, console: Console, method: str = "cgroup", calibrate: bool = False
) -> Iterator[Any]:
    """The device emulation for ``--device`` (None for the host), removed on exit."""
    if device == "host":
        yield None
        return
    import torch

    from splitinfer.device import for_bundle

    torch.set_num_threads(1)  # the quota is a share of ONE host core: the edge uses one
    with for_bundle(device, bundle, method=method, calibrate=calibrate) as emu:
        if emu.emulated:
            console.print(emu.describe(), highlight=False, soft_wrap=True)
        else:
            warn(emu.describe())
        yield emu


def _images(spec: str, bundle: Any, limit: int | None) -> tuple[Any, Any, str]:
    """``--images``: N Fashion-MNIST test images, or an image file / ImageFolder."""
    from splitinfer.edge.stream import fit_images, load_images

    if spec.isdigit():
        from splitinfer.data import load_fashion_mnist
        from splitinfer.errors import BadInput

        n = int(spec)
        if not 1 <= n <= 10000:
            raise BadInput(f"--images N must be in 1..10000, got {n}")
        x, y = load_fashion_mnist("test")
        return fit_images(x[:n], bundle.spec.input_shape), y[:n], f"fashion-mnist test[:{n}]"
    pixels, labels = load_images(spec, bundle.spec.input_shape, bundle.spec.classes, limit)
    return pixels, labels, str(spec)


def register(app: Any, console: Console) -> None:
    """Add `run` to ``app``."""

    @app.command("run")
    def run_cmd(
        bundle: Path = typer.Option(None, help="bundle directory (default: the shipped bundle)"),
        server: str = typer.Option(
            None, help="server URL: http(s)://HOST:PORT or grpc(s)://HOST:PORT"
        ),
        transport: str = typer.Option(
            None, help="http | grpc | ws (default: the URL's scheme, else http)"
        ),
        engine: str = typer.Option("torch", help="what runs the edge half: torch | onnx"),
        mode: str = typer.Option("split", help="split | cloud-only | mobile-only | auto"),
        images: str = typer.Option(
            "200", help="N Fashion-MNIST test images, or an image file / ImageFolder folder"
        ),
        limit: int = typer.Option(None, min=1, help="at most this many images from a folder"),
        link: str = typer.Option(
            None,
            help="link profile (3g/4g/wifi/custom:up=..,down=..,rtt=..): emulated in front "
            "of the server, and the link --mode auto decides for",
        ),
        emulate: bool = typer.Option(
            True, help="put an emulated --link in front of the server (else: decide only)"
        ),
        trace: Path = typer.Option(
            None,
            "--trace",
            help="the emulated --link follows this trace file (CSV or "
            "Mahimahi uplink; see `splitinfer link --help` and traces/README.md)",
        ),
        device: str = typer.Option(
            "host",
            help="device profile (phone | jetson-tx2 | host | NAME:gflops=X): the edge's "
            "work runs at its speed under a cgroup CPU quota, and --mode auto plans for it",
        ),
        emulate_device: bool = typer.Option(
            True, help="slow the edge to --device's speed (else: plan for it only)"
        ),
        device_method: str = typer.Option(
            "cgroup",
            help="how the edge is slowed: cgroup (a CFS CPU quota; root, Linux) | dilate "
            "(a sleep of the block's own CPU time x (1/share - 1) after each block: smooth "
            "for short work, any OS)",
        ),
        device_calibrate: bool = typer.Option(
            False,
            help="one timed pass of the whole network under the quota, then the share scaled "
            "by measured / wanted (cgroup; best on a core of its own, docs/device-emulation.md)",
        ),
        repeats: int = typer.Option(
            20, min=1, help="--mode auto: timed runs per half when profiling the bundle here"
        ),
        replan: bool = typer.Option(
            True, help="--mode auto: plan again as the link estimate moves (else: decide once)"
        ),
        replan_every: int = typer.Option(
            20, min=0, help="--mode auto: re-plan at least every N requests (0: only on moves)"
        ),
        replan_threshold: float = typer.Option(
            0.25,
            min=0.001,
            help="--mode auto: re-plan when the estimated up rate or RTT "
            "moved by this fraction since the last plan",
        ),
        replan_margin: float = typer.Option(
            0.10,
            min=0.0,
            max=0.99,
            help="--mode auto: switch only to a plan modeled at least "
            "this fraction cheaper than the current one ...",
        ),
        replan_hold: int = typer.Option(
            2, min=1, help="--mode auto: ... at this many consecutive re-plans (hysteresis)"
        ),
        replan_ping: int = typer.Option(
            0,
            min=0,
            help="--mode auto: on the device, ping the server after every N requests, off "
            "their latency, so a link that comes back is seen (0: never; a ping is a few "
            "hundred bytes: HTTP GET /healthz, gRPC ListBundles, a WebSocket ping)",
        ),
        measured_device: bool = typer.Option(
            True,
            help="auto: price each choice's device work at what this runner measured for it "
            "(else the device profile alone)",
        ),
        accuracy_weight: float = typer.Option(
            0.0,
            min=0.0,
            help="--mode auto with a multi-rate bundle (HTTP/gRPC): ms of modeled cost per "
            "accuracy point a rate point loses, so a fast link buys the accurate point "
            "(0: latency alone, the smallest point)",
        ),
        stream: bool = typer.Option(
            False, help="send the sequence on one gRPC InferStream (split frames)"
        ),
        token: str = typer.Option(None, envvar="SPLITINFER_TOKEN", help="bearer token"),
        retries: int = typer.Option(2, min=0, help="retries per request"),
        timeout_s: float = typer.Option(10.0, min=0.01, help="per-request timeout"),
        fallback: str = typer.Option(
            "allow",
            help="allow: an unanswered request runs mobile-only, with a warning; never: it "
            "fails the run (exit 2)",
        ),
        max_fallback_rate: float = typer.Option(
            0.0,
            min=0.0,
            max=1.0,
            help="exit 3 when more than this fraction of inferences fell back (0: any)",
        ),
        wide: bool = typer.Option(False, help="every column (stage ms, retries): over 80 columns"),
        ca_cert: Path = typer.Option(None, help="CA / server certificate for https or grpcs"),
        json_out: Path = typer.Option(None, "--json", help="write the summary here"),
    ) -> None:
        """Stream images through the bundle's edge half to a server; live measured table."""
        from splitinfer.bundle import Bundle, default_bundle_path
        from splitinfer.device.emulation import check_method
        from splitinfer.edge import EdgeRunner
        from splitinfer.edge.runner import RUN_MODES
        from splitinfer.edge.stream import run_stream
        from splitinfer.errors import BadInput
        from splitinfer.plan import device as device_profile

        if fallback not in ("allow", "never"):
            raise BadInput(f"--fallback must be allow or never, got {fallback!r}")
        if mode not in RUN_MODES:
            raise BadInput(f"--mode must be one of {', '.join(RUN_MODES)}, got {mode!r}")
        if mode in ("split", "cloud-only") and server is None:
            raise BadInput(f"--mode {mode} needs --server URL (see `splitinfer serve`)")
        if trace is not None and (link is None or not emulate or server is None):
            raise BadInput(
                "--trace shapes the emulated link: give --server and --link PROFILE too (its "
                "RTT and downlink apply beside a Mahimahi trace; a CSV trace sets all)"
            )
        if mode == "auto" and link is None:
            raise BadInput("--mode auto needs --link 3g|4g|wifi|custom:up=..,down=..,rtt=..")
        url = server_url(server, transport)
        family = _FAMILY[urlsplit(url).scheme] if url else None
        if mode == "cloud-only" and family == "grpc":
            raise BadInput("--mode cloud-only sends images, which gRPC does not carry: use http")
        if stream and family != "grpc":
            raise BadInput("--stream needs a gRPC server (--transport grpc, grpc://HOST:PORT)")
        device_profile(device)  # an unknown name fails here, listing the valid ones
        check_method(device_method, "--device-method")
        b = Bundle.load(bundle or default_bundle_path())
        x, y, source = _images(images, b, limit)
        verify: bool | Path = ca_cert if ca_cert is not None else True
        with (
            _via_link(url, link if emulate else None, trace) as via,  # its threads: host speed
            _emulated(device if emulate_device else "host", b, console, device_method,
                      device_calibrate) as emu,
            EdgeRunner(b, via, token=token, retries=retries, timeout_s=timeout_s,
                       fallback=fallback == "allow", verify=verify, engine=engine,
                       device=emu) as runner,
        ):  # fmt: skip
            if mode == "auto":
                from splitinfer.edge.replan import ReplanPolicy

                policy = (
                    ReplanPolicy(
                        replan_threshold,
                        replan_every,
                        replan_margin,
                        replan_hold,
                        measured_device=measured_device,
                        ping_every=replan_ping,
                    )
                    if replan
                    else None
                )
                decision = runner.plan_auto(
                    link, device, sample=x, repeats=repeats, replan=policy,
                    accuracy_weight=accuracy_weight,
                )  # fmt: skip
                console.print(
                    f"auto: [bold]{decision.mode}[/] for link {decision.link}, device "
                    f"{decision.device} (modeled {decision.predicted_ms:.2f} ms; "
                    + ", ".join(
                        f"{k} {v['latency_ms']:.2f}" for k, v in decision.candidates.items()
                    )
                    + ")"
                )
                if decision.unreliable:
                    from splitinfer.timing import Checks

                    warn(
                        Checks(list(decision.unreliable)).warning(
                            "auto's prediction is not trusted (measured twice); "
                            "use --mode split|cloud-only|mobile-only, OMP_NUM_THREADS=1, a quieter "
                            "machine, or raise --repeats"
                        )
                    )
            where = f"over {family}" if family else "on the device"
            what = f"{mode} {where}, engine {runner.engine_name}"
            with Live(console=console, refresh_per_second=4) as live:
                summary = run_stream(
                    runner, x, y, mode,
                    progress=lambda s: live.update(_table(s, len(x), what, wide)), stream=stream,
                )  # fmt: skip
                live.update(_table(summary, len(x), what, wide))
            if not console.is_terminal:
                console.line()  # off a terminal, Live ends without one
        data = {
            **summary.to_json(), "bundle": b.spec.id, "server": server, "transport": family,
            "engine": runner.engine_name, "stream": stream, "link": link,
            "trace": None if trace is None else str(trace),
            "link_emulated": bool(link and emulate and url), "device": device,
            "device_emulation": emu.to_json() if emu is not None else None, "source": source,
        }  # fmt: skip
        if json_out:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(data, indent=1) + "\n")
            console.print(f"wrote {json_out}")
        fell = data["fallbacks"]
        if fell:
            warn(
                f"warning: {fell} of {data['images']} inferences fell back to mobile-only "
                f"(the table shows what ran); cause: {fallback_cause(summary)}"
            )
        if data["images"] and fell / data["images"] > max_fallback_rate:
            raise typer.Exit(3)
