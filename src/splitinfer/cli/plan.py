"""Command `plan`: choose the cut and the rate for a link, device and server (modeled)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from splitinfer.cli.partition import warn_profile
from splitinfer.plan.planner import DEFAULT_HEADER_BYTES


def _load_profile(console: Console, what: str, repeats: int) -> Any:
    """A profile JSON path, or a model name profiled now with measured latency."""
    from splitinfer.plan.load import load_model_profile

    if what.endswith(".json") or Path(what).exists():
        return load_model_profile(what)
    from splitinfer import zoo
    from splitinfer.cli.partition import run_profile

    zoo.default_input_size(what)  # an unknown model fails here, before anything is profiled
    console.print(f"profiling {what} on this host (measured latency, {repeats} repeats)...")
    return run_profile(console, what, repeats=repeats, warmup=3, measure=True)


def _rate_points(path: Path) -> Any:
    """Rate points from a ratepoints JSON, or measured by a bundle (its ``spec.json``)."""
    from splitinfer.plan.ratepoints import load_ratepoints, parse_ratepoints

    if path.is_dir() and (path / "spec.json").is_file():
        from splitinfer.bundle import Bundle
        from splitinfer.plan.ratepoints import ratepoints_for

        return parse_ratepoints(ratepoints_for(Bundle.load(path).spec), str(path))
    return load_ratepoints(path)


def _bundle_dir(what: str) -> Path | None:
    """``what`` as a bundle directory, None when it is not a directory; a typed error for a
    directory that holds no bundle."""
    from splitinfer.plan.errors import BadPlanInput

    path = Path(what)
    if not path.is_dir():
        return None
    if not (path / "spec.json").is_file():
        raise BadPlanInput(
            f"{what} is a directory without spec.json, so not a bundle; pass a bundle directory, "
            "a profile JSON (`splitinfer profile M --json P`) or a model name"
        )
    return path


def _dataset_sample(bundle: Any, count: int = 16) -> Any:
    """The first test images of the bundle's dataset (Fashion-MNIST for 1x28x28 bundles), or
    None when it has none here (measure_inputs then says it used random pixels)."""
    from splitinfer.errors import SplitInferError

    if tuple(bundle.spec.input_shape) != (1, 28, 28):
        return None
    from splitinfer.data import load_fashion_mnist

    try:
        x, _ = load_fashion_mnist("test")
    except (SplitInferError, OSError):
        return None
    return x[:count]


def _bundle_inputs(console: Console, path: Path, repeats: int) -> Any:
    """The bundle measured here: its halves (reduction units included), its rate point
    (``spec.metrics``, measured when it was built) and the PNGs cloud-only would send."""
    from splitinfer.bundle import Bundle
    from splitinfer.edge.auto import measure_inputs

    bundle = Bundle.load(path)
    sample = _dataset_sample(bundle)
    console.print(
        f"profiling bundle {bundle.spec.id} on this host (measured latency, {repeats} repeats)..."
    )
    return measure_inputs(
        bundle, sample, repeats=repeats, warmup=min(3, repeats),
        sample_note="Fashion-MNIST test images (the bundle's dataset)",
    )  # fmt: skip


def _ms(v: float) -> str:
    return f"{v:,.1f}" if v >= 10 else f"{v:.2f}"


#: the columns shown without --wide (fit 80 columns)
NARROW = ("#", "plan", "cut", "KB up", "total ms", "total mJ", "loss pp")


def plan_table(p: Any, top: int, wide: bool = False) -> Table:
    """The ranked candidates (top ``top``) plus both baselines; ``wide``: every column."""
    table = Table(
        title=(
            f"splitinfer plan {p.model}: MODELED, {p.mode} mode, link {p.link.name}, device "
            f"{p.device.name}, server {p.server.name}, objective {p.objective}, "
            f"budget {p.budget:g} pp"
        ),
        title_justify="left",
        caption=(
            "ms: modeled latency per stage; up: uplink transfer; srv: decode+tail on the server; "
            "mJ: modeled device energy (cmp: compute); loss pp: accuracy loss in percentage points "
            "(n/m = not measured); "
            "* = outside the budget"
        ),
        caption_justify="left",
    )
    cols = ["#", "plan", "cut", "KB up", "head", "enc", "up", "rtt", "srv", "total ms",
            "cmp mJ", "radio mJ", "idle mJ", "total mJ", "loss pp"]  # fmt: skip
    keep = [wide or col in NARROW for col in cols]
    for col, on in zip(cols, keep, strict=True):
        if not on:
            continue
        if col in ("plan", "cut"):
            # a long rate-point label folds; "mobile-only" (11) never does
            table.add_column(col, justify="left", overflow="fold", min_width=11)
        else:
            table.add_column(col, justify="right", no_wrap=True)
    shown = [c for c in p.candidates[:top]]
    shown += [c for c in p.candidates[top:] if c.kind != "split"]
    for c in shown:
        k = c.cost
        loss = "n/m" if c.accuracy_loss is None else f"{c.accuracy_loss:g}"
        rank = p.candidates.index(c) + 1
        name = c.label if c.kind == "split" else c.kind
        cells = [
            f"{rank}{'' if c.within_budget else '*'}", name, c.cut or "-",
            f"{k.bytes_up / 1024:,.2f}",
            _ms(k.head_ms), _ms(k.encode_ms), _ms(k.uplink_ms), _ms(k.rtt_ms), _ms(k.server_ms),
            _ms(k.latency_ms), _ms(k.compute_mj), _ms(k.radio_mj), _ms(k.idle_mj), _ms(k.energy_mj),
            loss,
        ]  # fmt: skip
        table.add_row(
            *[v for v, on in zip(cells, keep, strict=True) if on],
            style="bold green" if c is p.best else None,
        )
    return table


def plan_summary(p: Any) -> str:
    b = p.best
    r = p.ratios()
    where = f"cut {b.cut} ({b.label})" if b.kind == "split" else b.kind
    return (
        f"best ({p.objective}, modeled, {p.mode} mode): {where}: {b.cost.latency_ms:,.1f} ms, "
        f"{b.cost.energy_mj:,.1f} mJ, {b.cost.bytes_up / 1024:,.2f} KB up. "
        f"vs cloud-only: {r['latency_vs_cloud_only']:.2f}x latency, "
        f"{r['energy_vs_cloud_only']:.2f}x energy; "
        f"vs mobile-only: {r['latency_vs_mobile_only']:.2f}x latency, "
        f"{r['energy_vs_mobile_only']:.2f}x energy "
        "(baseline / best).\n"
        + "\n".join(p.notes)
        + f"\nlink: {p.link.source}\ndevice: {p.device.source}\nserver: {p.server.source}"
        + f"\ncloud-only input: {p.input_encoding.bytes:,.0f} bytes, {p.input_encoding.source}"
    )


def register(app: Any, console: Console) -> None:
    """Add `plan` to ``app``."""

    @app.command("plan")
    def plan_cmd(
        profile: str = typer.Argument(
            None,
            help="bundle directory, profile JSON (`splitinfer profile M --json`) or a model name",
        ),
        rates: Path = typer.Option(
            None,
            "--rates",
            help="rate points: splitinfer.ratepoints/1 JSON, or a bundle folder (its measured "
            "operating point)",
        ),
        link_spec: str = typer.Option(
            "4g", "--link", help="3g | 4g | wifi | custom:up=..,down=..,rtt=.."
        ),
        device_spec: str = typer.Option(
            "host", "--device", help="host | jetson-tx2 | phone | NAME:speed=.."
        ),
        server_spec: str = typer.Option("host", "--server", help="host | gpu | custom:speed=.."),
        objective: str = typer.Option("latency", help="latency | energy | bytes"),
        budget: float = typer.Option(1.0, help="accuracy-loss budget, percentage points"),
        mode: str = typer.Option("realistic", help="realistic (RTT, headers, decode) | seed"),
        header_bytes: float = typer.Option(
            DEFAULT_HEADER_BYTES, help="frame overhead bytes per payload (realistic mode)"
        ),
        input_bytes: float = typer.Option(None, help="cloud-only: encoded input bytes (measured)"),
        compression: float = typer.Option(None, help="estimates: also an ASSUMED N x on quant8"),
        exclude_unmeasured: bool = typer.Option(False, help="only points with measured loss"),
        profiles_file: Path = typer.Option(None, "--profiles", help="extra profiles (YAML/JSON)"),
        sweep_bandwidth: str = typer.Option(
            None, help="LO:HI Mbps: draw best plan vs uplink (PNG)"
        ),
        png: Path = typer.Option(
            None,
            help="where the sweep PNG goes (default: beside --json, else runs/plan-<time>/)",
        ),
        top: int = typer.Option(12, min=1, help="candidates to show"),
        wide: bool = typer.Option(
            False, help="every column (per-stage ms and mJ): wider than 80 columns"
        ),
        repeats: int = typer.Option(3, min=1, help="when profiling a model name: timed runs"),
        json_out: Path = typer.Option(None, "--json", help="write the plan (and sweep) as JSON"),
        transport: str = typer.Option(
            "none",
            help="model this transport's bytes per request and the probe's fixed ms: "
            "http | grpc | ws | none (frame and result frame only, as before)",
        ),
        probe: bool = typer.Option(
            False,
            "--probe",
            help="measure this machine's fixed per-request ms (about 20 s; "
            "a server and an unshaped link emulator on loopback) and store it; no plan",
        ),
        probe_file: Path = typer.Option(
            None,
            help="where the probe is stored / read (default: $SPLITINFER_PROBE or "
            "~/.cache/splitinfer/probe.json)",
        ),
    ) -> None:
        """Rank (cut x rate) plans against cloud-only and mobile-only: modeled latency, energy."""
        from splitinfer.errors import BadInput
        from splitinfer.plan import device, link, plan, server
        from splitinfer.plan.protocol import TRANSPORTS, load_probe, request_costs

        if probe:
            _probe(console, probe_file, _bundle_dir(profile) if profile else None)
            return
        if profile is None:
            raise BadInput("give a bundle, profile JSON or model name (or --probe)")
        if transport != "none" and transport not in TRANSPORTS:
            raise BadInput(f"--transport must be none or one of {', '.join(TRANSPORTS)}")
        from splitinfer.plan.inputs import InputEncoding, measured_input_encoding
        from splitinfer.plan.planner import check_options
        from splitinfer.plan.profiles import register_profiles
        from splitinfer.plan.sweep import parse_range

        if profiles_file:
            register_profiles(profiles_file)
        # Everything that can be wrong with the options fails here, before minutes of profiling.
        the_link, the_device, the_server = link(link_spec), device(device_spec), server(server_spec)
        check_options(objective, mode, budget)
        if sweep_bandwidth:
            parse_range(sweep_bandwidth)
        rate_points = _rate_points(rates) if rates else None
        bundle_dir = _bundle_dir(profile)
        if bundle_dir is not None:
            inputs = _bundle_inputs(console, bundle_dir, repeats)
            prof, enc = inputs.profile, inputs.input_encoding
            rate_points = rate_points or [inputs.rate_point]
        else:
            prof = _load_profile(console, profile, repeats)
            enc = measured_input_encoding(prof.input_shape)
        if input_bytes is not None:
            enc = InputEncoding(input_bytes, enc.encode_ms, enc.decode_ms, "given (--input-bytes)")
        kwargs: dict[str, Any] = dict(
            device=the_device, server=the_server, rate_points=rate_points,
            objective=objective, budget=budget, mode=mode, header_bytes=header_bytes,
            input_encoding=enc, compression=compression, include_unmeasured=not exclude_unmeasured,
            request=None if transport == "none" else request_costs(load_probe(probe_file),
                                                                   transport),
        )  # fmt: skip
        p = plan(prof, link=the_link, **kwargs)
        console.print(plan_table(p, top, wide))
        console.print(plan_summary(p))
        warn_profile(prof)
        out = p.to_json()
        if sweep_bandwidth:
            if png is None:
                import time

                folder = (
                    json_out.parent
                    if json_out
                    else Path("runs") / time.strftime("plan-%Y%m%d-%H%M%S")
                )
                png = folder / "plan-sweep.png"
            rates_text = f"rate points {rates.name}" if rates else "codec-only estimated rates"
            out["sweep"] = _sweep(
                console, prof, the_link, sweep_bandwidth, png, kwargs, p, rates_text
            )
        if json_out:
            json_out.write_text(json.dumps(out, indent=1) + "\n")
            console.print(f"wrote {json_out}")


def _probe(console: Console, out: Path | None, bundle_dir: Path | None) -> None:
    """``--probe``: measure and store the fixed per-request ms; print them."""
    from splitinfer.demo.probe import run_probe

    console.print("probing the fixed per-request time (server + unshaped link, 100 images "
                  "per mode) ...")  # fmt: skip
    path, data = run_probe(bundle_dir, out)
    fixed = {**data["fixed_ms"]["http"], **data["fixed_ms"]["local"]}
    console.print(
        "fixed ms per request (measured p50 - the model's stages): "
        + ", ".join(f"{k} {v:.2f}" for k, v in fixed.items())
    )
    console.print(f"wrote {path}")


def _sweep(
    console: Console,
    prof: Any,
    link: Any,
    text: str,
    png: Path,
    kwargs: dict[str, Any],
    p: Any,
    rates_text: str,
) -> Any:
    import dataclasses

    from splitinfer.plan.figure import draw_sweep
    from splitinfer.plan.sweep import log_points, parse_range, sweep_uplink

    lo, hi = parse_range(text)
    rows = sweep_uplink(prof, link, log_points(lo, hi), **kwargs)
    title = (
        f"{p.model}: best plan vs uplink bandwidth (MODELED, {p.mode} mode, "
        f"objective {p.objective}); "
        f"link {link.name} (down {link.down_mbps:g} Mbps, RTT {link.rtt_ms:g} ms), "
        f"device {p.device.name}, server {p.server.name}\n{rates_text}, budget {p.budget:g} pp; "
        f"cloud-only input {p.input_encoding.bytes:,.0f} B"
    )
    draw_sweep(rows, png, title)
    console.print(f"wrote {png}")
    return [dataclasses.asdict(r) for r in rows]
