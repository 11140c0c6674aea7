"""Rate points: what one (cut, unit, codec) setting sends and what it costs in accuracy.

The sweep writes them (``splitinfer.ratepoints/1``); without a sweep the planner derives
*codec-only estimates* from the model profile, labelled "estimated, accuracy loss not
measured". File format::

    {"format": "splitinfer.ratepoints/1", "model": "resnet50",
     "points": [{"cut": "layer3", "label": "unit c=8 + quant4 + ans",
                 "payload_bytes": 1100, "frame_bytes": 1164,
                 "accuracy": 0.91, "accuracy_loss": 0.4,     # percentage points, or null
                 "encode_ms": 0.3, "decode_ms": 0.2,          # on the profiling host
                 "measured": true, "source": "sweep 2026-11-27, command ..."}]}
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from splitinfer.plan.errors import BadPlanInput

RATEPOINTS_FORMAT = "splitinfer.ratepoints/1"

# Assumption: an 8-bit affine quantizer touches each element a few times; ~1 ns per element
# on the profiling host (numpy-speed). Only used for estimated points; a sweep measures it.
QUANT_NS_PER_ELEMENT = 1.0
# Assumption: scale + zero point (two float32) travel with a quantized payload.
QUANT_PARAM_BYTES = 8


@dataclass(frozen=True)
class RatePoint:
    """One operating point at one cut. Times are host ms; losses in percentage points."""

    cut: str
    label: str
    payload_bytes: float
    frame_bytes: float
    accuracy: float | None
    accuracy_loss: float | None
    encode_ms: float
    decode_ms: float
    measured: bool
    source: str
    #: FLOPs of the reduction unit (on the device) and the restoration unit (on the server)
    #: at this point; 0 for a codec alone. The planner adds their compute to head and tail.
    unit_flops_edge: float = 0.0
    unit_flops_cloud: float = 0.0

    def __post_init__(self) -> None:
        for key in ("payload_bytes", "frame_bytes", "encode_ms", "decode_ms", "unit_flops_edge",
                    "unit_flops_cloud"):  # fmt: skip
            v = getattr(self, key)
            if not (isinstance(v, int | float) and v >= 0):
                raise BadPlanInput(
                    f"rate point {self.cut}/{self.label}: {key} must be >= 0, got {v!r}"
                )
        if self.frame_bytes < self.payload_bytes:
            raise BadPlanInput(f"rate point {self.cut}/{self.label}: frame_bytes < payload_bytes")


def load_ratepoints(path: str | Path) -> list[RatePoint]:
    """Read a ``splitinfer.ratepoints/1`` file; any problem is a :class:`BadPlanInput`."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise BadPlanInput(f"cannot read rate points {path}: {err}") from None
    return parse_ratepoints(data, str(path))


def parse_ratepoints(data: Any, path: str = "rate points") -> list[RatePoint]:
    """A ``splitinfer.ratepoints/1`` document already parsed from JSON."""
    if not isinstance(data, dict) or data.get("format") != RATEPOINTS_FORMAT:
        raise BadPlanInput(f"{path}: not a rate-point file (expected format {RATEPOINTS_FORMAT!r})")
    points = []
    for i, entry in enumerate(data.get("points") or []):
        entry = dict(entry)
        entry.setdefault("payload_bytes", entry.get("frame_bytes"))
        try:
            points.append(RatePoint(**entry))
        except TypeError as err:
            raise BadPlanInput(f"{path}: point {i}: {err}") from None
    if not points:
        raise BadPlanInput(f"{path}: no rate points")
    return points


def save_ratepoints(path: str | Path, points: Sequence[RatePoint], model: str) -> None:
    data: dict[str, Any] = {
        "format": RATEPOINTS_FORMAT,
        "model": model,
        "points": [asdict(p) for p in points],
    }
    Path(path).write_text(json.dumps(data, indent=1) + "\n")


def estimate_ratepoints(
    cuts: Sequence[Any], header_bytes: float, compression: float | None = None
) -> list[RatePoint]:
    """Codec-only estimates per cut (``cuts``: ``CutPoint``-like, with name/numel/bytes_fp32).

    * ``fp32 raw``: the tensor as is: lossless, so accuracy loss 0 by construction;
    * ``quant8``: one byte per element (+ scale/zero point): loss NOT measured;
    * ``quant8 /N assumed`` when ``compression`` is given: an assumed entropy/unit gain.
    """
    out = []
    for c in cuts:
        quant_ms = c.numel * QUANT_NS_PER_ELEMENT * 1e-6
        rows: list[tuple[str, float, float, float | None, str]] = [
            ("fp32 raw", c.bytes_fp32, 0.0, 0.0, "estimated; lossless (raw fp32)"),
            ("quant8", c.numel + QUANT_PARAM_BYTES, quant_ms, None,
             "estimated, accuracy loss not measured"),
        ]  # fmt: skip
        if compression:
            rows.append((
                f"quant8 /{compression:g} assumed", (c.numel + QUANT_PARAM_BYTES) / compression,
                quant_ms, None,
                f"estimated: ASSUMED {compression:g}x compression, loss not measured",
            ))  # fmt: skip
        for label, payload, enc_ms, loss, source in rows:
            out.append(RatePoint(
                cut=c.name, label=label, payload_bytes=payload, frame_bytes=payload + header_bytes,
                accuracy=None, accuracy_loss=loss, encode_ms=enc_ms, decode_ms=enc_ms,
                measured=False, source=source,
            ))  # fmt: skip
    return out


def ratepoints_for(spec: Any) -> dict[str, Any]:
    """A bundle's measured operating points (its ``spec.metrics``, and each extra rate
    point's of a multi-rate bundle, written when it was built) in the
    ``splitinfer.ratepoints/1`` format above. A multi-rate bundle's labels start with
    ``rate K:``, the index its frames carry."""
    points = [(spec.unit, spec.codec, spec.metrics)]
    points += [(p.unit, p.codec, p.metrics) for p in getattr(spec, "rates", ())]
    out = []
    for k, (u, codec, m) in enumerate(points):
        unit = f"unit c={u.channels} s={u.stride}" if u else "no unit"
        rate = f"rate {k}: " if len(points) > 1 else ""
        out.append({
            "cut": spec.cut,
            "label": f"{rate}{unit} + {codec}",
            "payload_bytes": m["mean_payload_bytes"],
            "frame_bytes": m["mean_frame_bytes"],
            "accuracy": m["accuracy"],
            "accuracy_loss": m.get("accuracy_loss_points"),
            "encode_ms": m["encode_ms_median"],
            "decode_ms": m["decode_ms_median"],
            "measured": True,
            "source": f"bundle {spec.id}: {spec.built_by}",
        })  # fmt: skip
    return {"format": RATEPOINTS_FORMAT, "model": spec.model, "points": out}
