"""The planner beside the measurements: its inputs from the demo's numbers
(:func:`planner_inputs`) and its modeled cost of each mode over a link (:func:`predict`)."""

from __future__ import annotations

import math
from typing import Any

import torch

from splitinfer.bundle import Bundle
from splitinfer.demo.config import MODES
from splitinfer.demo.results import ModeSamples


def _planner_profile(
    bundle: Bundle, compute: dict[str, Any], head_ms: float, tail_ms: float, full_ms: float
) -> Any:
    """A one-cut ``ModelProfile`` of the bundle (head + reduction | restoration + tail)."""
    from splitinfer.partition.profile import CutProfile, ModelProfile
    from splitinfer.partition.split import CutPoint

    fshape = (1, *bundle.feature_shape)
    numel = math.prod(fshape)
    m = bundle.model

    def params(*mods: torch.nn.Module) -> int:
        return sum(p.numel() for mod in mods for p in mod.parameters())

    cut = CutPoint(
        name=bundle.spec.cut, aliases=(), node=bundle.spec.cut, index=0, shape=fshape,
        dtype="float32", numel=numel, bytes_fp32=4 * numel,
        flops_head=compute["flops_edge"], flops_tail=compute["flops_cloud"],
        params_head=params(m.head, m.reduction), params_tail=params(m.restoration, m.tail),
    )  # fmt: skip
    return ModelProfile(
        model=f"{bundle.spec.model} ({bundle.spec.id})",
        input_shape=(1, *bundle.spec.input_shape),
        input_bytes=math.prod(bundle.spec.input_shape),
        total_flops=compute["flops_full"],
        params=params(m),
        full_ms=full_ms,
        cuts=[CutProfile(cut, head_ms, tail_ms)],
    )


def planner_inputs(
    compute: dict[str, Any],
    loopback: dict[str, ModeSamples] | None = None,
    probe: dict[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """The planner's inputs, twice.

    ``wire_only`` (model-only): stage times measured in-process on one image, frame / PNG
    bytes, HTTP's bytes per request (:data:`splitinfer.plan.protocol.HTTP`) and the fixed
    per-request ms of this machine's stored ``probe`` (none: 0): what the model, the wire
    and protocol figures and a once-per-machine probe tell the planner.
    ``calibrated`` (given the ``loopback`` samples a link worker took
    side by side with the link): per-mode stage times and bytes on the wire (HTTP
    included) over the unshaped proxy, at the same time and under the same load; what the
    model has no term for (HTTP client and server, the proxy hop, the server's batcher)
    is folded into its server-decode term. Mobile-only has no link term: its calibrated
    ``full_ms`` is the second, independent mobile-only sample taken side by side.
    """
    from splitinfer.plan.planner import (
        DEFAULT_HEADER_BYTES,
        DEFAULT_RESULT_BYTES,
        RESULT_FRAME_OVERHEAD,
    )
    from splitinfer.plan.protocol import request_costs

    request = request_costs(probe, "http")

    full_ms = compute["full_ms"]
    out: dict[str, dict[str, Any]] = {
        "wire_only": {
            "head_ms": compute["edge_ms"], "encode_ms": compute["encode_ms"],
            "decode_ms": compute["decode_ms"], "tail_ms": compute["tail_ms"],
            "full_ms": full_ms, "frame_bytes": compute["frame_bytes_mean"],
            "payload_bytes": compute["payload_bytes_mean"],
            "input_bytes": compute["png_bytes_mean"], "input_encode_ms": compute["png_encode_ms"],
            "input_decode_ms": compute["png_decode_ms"], "header_bytes": DEFAULT_HEADER_BYTES,
            "result_bytes": DEFAULT_RESULT_BYTES, "transport": "http",
            "http_up_bytes": request.transport.up, "http_down_bytes": request.transport.down,
            "fixed_ms": request.fixed_ms,
            "source": "stage times measured in-process (one image; the smallest of 3 pass "
                      "medians); frame / PNG "
                      "bytes; HTTP bytes per request (plan.protocol.HTTP); fixed ms per "
                      f"request: {request.source}",
        },
    }  # fmt: skip
    if loopback:
        sp, cl = loopback["split"].summary(), loopback["cloud-only"].summary()
        tail = compute["tail_ms"]
        full_ms = loopback["mobile-only"].summary()["latency_ms_p50"]
        wire_down = (sp["wire_bytes_down_per_request"] + cl["wire_bytes_down_per_request"]) / 2
        out["calibrated"] = {
            "head_ms": sp["head_ms_p50"], "encode_ms": sp["encode_ms_p50"], "tail_ms": tail,
            "decode_ms": max(
                sp["latency_ms_p50"] - sp["head_ms_p50"] - sp["encode_ms_p50"] - tail, 0.0
            ),
            "full_ms": full_ms, "frame_bytes": sp["wire_bytes_up_per_request"],
            "payload_bytes": sp["bytes_up_mean"], "input_bytes": cl["bytes_up_mean"],
            "input_encode_ms": cl["head_ms_p50"],
            "input_decode_ms": max(cl["latency_ms_p50"] - cl["head_ms_p50"] - full_ms, 0.0),
            "header_bytes": cl["wire_bytes_up_per_request"] - cl["bytes_up_mean"],
            "result_bytes": max(wire_down - RESULT_FRAME_OVERHEAD, 0.0),
            "source": "p50 over the unshaped proxy, side by side with the link: decode_ms = "
                      "split p50 - head - encode - in-process tail (codec decode, HTTP client "
                      "and server, proxy hop, batcher); full_ms = mobile-only p50 of the "
                      "side-by-side sample; input_decode_ms = cloud-only p50 - PNG encode - "
                      "full_ms; bytes: HTTP on the wire, counted by the emulator",
        }  # fmt: skip
    return out


def predict(
    bundle: Bundle, compute: dict[str, Any], inputs: dict[str, Any], link_spec: str,
    device_spec: str = "host",
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """The planner's modeled cost of each mode over ``link_spec`` (``plan()``, realistic)."""
    from splitinfer.plan import InputEncoding, RatePoint, device, link, plan, server
    from splitinfer.plan.protocol import HTTP, RequestCosts

    profile = _planner_profile(
        bundle, compute, inputs["head_ms"], inputs["tail_ms"], inputs["full_ms"]
    )
    rp = RatePoint(
        cut=bundle.spec.cut, label=bundle.spec.codec, payload_bytes=inputs["payload_bytes"],
        frame_bytes=inputs["frame_bytes"], accuracy=None, accuracy_loss=None,
        encode_ms=inputs["encode_ms"], decode_ms=inputs["decode_ms"], measured=True,
        source=inputs["source"],
    )  # fmt: skip
    enc = InputEncoding(
        inputs["input_bytes"], inputs["input_encode_ms"], inputs["input_decode_ms"],
        "PNG as EdgeRunner sends it (measured)",
    )  # fmt: skip
    p = plan(
        profile, link=link(link_spec), device=device(device_spec), server=server("host"),
        rate_points=[rp], header_bytes=inputs["header_bytes"],
        result_bytes=inputs["result_bytes"], input_encoding=enc, mode="realistic",
        request=RequestCosts(HTTP, inputs["fixed_ms"], inputs["source"])
        if "fixed_ms" in inputs else None,
    )  # fmt: skip
    by_kind: dict[str, Any] = {c.kind: c for c in p.candidates}
    return {
        m: {**by_kind[m].cost.to_json(), "device": device_spec, "notes": p.notes} for m in MODES
    }
