"""What a request costs beyond the model: protocol bytes per transport, and a fixed time.

Two parts, both used by :func:`splitinfer.plan.plan` through :class:`RequestCosts`:

* **Protocol bytes** per request (named constants below, each with its source): what the
  transport adds up (request head, stream framing) and what comes back down (response
  head and result). Measured by the link emulator, which counts every byte above TCP.
* **Fixed time** per request: what a request costs in the HTTP client, the proxy hop and
  the server (parsing, the batcher, the response) beyond the model's stages, and for
  mobile-only what the runner adds to the network's own time. It depends on the machine,
  so it is *measured once per machine* by ``splitinfer plan --probe`` and stored as JSON
  (:func:`probe_path`: the user's cache dir, or ``--probe-file``) with the host it was
  measured on; :func:`load_probe` reads it back.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from splitinfer.plan.errors import BadPlanInput

PROBE_FORMAT = "splitinfer.probe/1"


@dataclass(frozen=True)
class TransportBytes:
    """Bytes a transport adds to one request: ``up`` beyond the body it carries (the frame
    for split, the image for cloud-only; ``frame_header=False``: only the payload is
    sent, no frame header) and ``down``: the whole answer (head + result)."""

    name: str
    up: float
    down: float
    source: str
    frame_header: bool = True


#: HTTP/1.1, one keep-alive POST per request, JSON top-5 result. Up: the request head,
#: 256.0 B = wire B up - body of the demo (split 283.765 - 27.765 frame; cloud-only
#: 752.79 - 496.865 PNG: 255.9); down: 663.7 B = wire B down (split 663.685, cloud-only
#: 663.73). `splitinfer demo`, results.json, links[3g].modes, counted by the emulator.
HTTP = TransportBytes(
    "http", 256.0, 663.7,
    "measured: `splitinfer demo` wire bytes per request minus the body (link emulator)",
)  # fmt: skip
#: gRPC, one bidirectional InferStream, top-5: docs/wire-format.md (wire_bytes, n=1000):
#: 70.97 B up for a 13.95 B payload + 14 B frame header, 172.84 B down.
GRPC = TransportBytes(
    "grpc", 70.97 - 13.95 - 14.0, 172.84,
    "measured: python -m splitinfer.experiments.wire_bytes --n 1000 (docs/wire-format.md)",
)  # fmt: skip
#: WebSocket session: the payload alone plus 6.30 B up (2 B header + 4 B mask + setup
#: amortised), 10.21 B down (binary top-1): docs/wire-format.md, same run.
WEBSOCKET = TransportBytes(
    "ws", 6.30, 10.21,
    "measured: python -m splitinfer.experiments.wire_bytes --n 1000 (docs/wire-format.md)",
    frame_header=False,
)  # fmt: skip
TRANSPORTS = {t.name: t for t in (HTTP, GRPC, WEBSOCKET)}
#: One ping over HTTP (``GET /healthz``, mode auto on the device): up, the request as httpx
#: sends it (156 B with a 5-digit port); down, uvicorn's answer (140 B: status line, date,
#: server, content-length, content-type, ``{"status":"ok"}``). Measured by capturing both.
HTTP_PING = TransportBytes(
    "http-ping", 156.0, 140.0,
    "measured: the bytes of httpx's GET /healthz and uvicorn's answer on a socket",
)  # fmt: skip


@dataclass(frozen=True)
class RequestCosts:
    """Per-request costs beyond the model for one transport: its bytes, and the fixed ms
    of each mode (0 where not measured)."""

    transport: TransportBytes
    fixed_ms: dict[str, float] = field(default_factory=dict)  # mode -> ms
    source: str = "no probe: fixed per-request time 0"

    def fixed(self, mode: str) -> float:
        return self.fixed_ms.get(mode, 0.0)


def probe_path() -> Path:
    """Where ``splitinfer plan --probe`` stores this machine's figures by default:
    ``$SPLITINFER_PROBE`` or ``$XDG_CACHE_HOME/splitinfer/probe.json`` (``~/.cache``)."""
    given = os.environ.get("SPLITINFER_PROBE")
    if given:
        return Path(given)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "splitinfer" / "probe.json"


def save_probe(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"format": PROBE_FORMAT, **data}, indent=1) + "\n")


def load_probe(path: Path | None = None) -> dict[str, Any] | None:
    """The stored probe (None when there is none); :class:`BadPlanInput` if unreadable."""
    path = path or probe_path()
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise BadPlanInput(
            f"cannot read the probe {path}: {err}; rerun `splitinfer plan --probe`"
        ) from None
    if not isinstance(data, dict) or data.get("format") != PROBE_FORMAT:
        raise BadPlanInput(
            f"{path} is not a probe ({PROBE_FORMAT}); rerun `splitinfer plan --probe`"
        )
    return data


def request_costs(probe: dict[str, Any] | None, transport: str = "http") -> RequestCosts:
    """The :class:`RequestCosts` of ``transport`` with a stored probe's fixed ms (if any)."""
    if transport not in TRANSPORTS:
        raise BadPlanInput(f"unknown transport {transport!r}; known: {', '.join(TRANSPORTS)}")
    if probe is None:
        return RequestCosts(TRANSPORTS[transport])
    by = probe.get("fixed_ms", {})
    fixed = {
        k: float(v) for k, v in {**(by.get(transport) or {}), **(by.get("local") or {})}.items()
    }
    host = probe.get("machine", {}).get("hostname", "?")
    return RequestCosts(
        TRANSPORTS[transport], fixed,
        f"probe {probe.get('measured_at', '?')} on {host} ({probe.get('command', '?')})",
    )  # fmt: skip


def to_json(costs: RequestCosts) -> dict[str, Any]:
    return {"transport": asdict(costs.transport), "fixed_ms": costs.fixed_ms,
            "source": costs.source}  # fmt: skip
