"""Live statistics for the monitor page (``/ui/``), per bundle, over a sliding window.

The transports hand every answered request to :meth:`Monitor.record` (and every refusal
to :meth:`Monitor.error`); :meth:`Monitor.snapshot` turns the window into what the page
draws: requests/s, bytes per inference, the server's latency breakdown, batch sizes, error
codes, recent top classes, and the last restored feature tensor (decoded and restored
only when a snapshot asks, at most once per period).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import torch

from splitinfer import wire
from splitinfer.bundle import Bundle
from splitinfer.errors import BadInput, SplitInferError
from splitinfer.protocol import Result

WINDOW_S = 10.0
EDGE_KEYS = ("bundle", "mode", "transport", "count", "head_ms", "encode_ms", "network_ms")
MAX_EVENTS = 4096


@dataclass
class _Event:
    at: float
    bytes_up: int
    queue_ms: float
    decode_ms: float
    compute_ms: float
    total_ms: float
    batch: int
    top: str


@dataclass
class _BundleStats:
    events: deque[_Event] = field(default_factory=lambda: deque(maxlen=MAX_EVENTS))
    total: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    last_payload: bytes | None = None
    last_tiles: dict[str, Any] | None = None
    tiles_at: float = 0.0
    edge: dict[str, Any] | None = None  # the last stage times an edge client reported
    shared_input: dict[str, Any] | None = None  # the last input a client chose to share


class Monitor:
    """Thread-safe counters that the transports feed and the monitor page reads."""

    def __init__(self, bundles: dict[str, Bundle], period_s: float = 1.0) -> None:
        self.bundles = bundles
        self.period_s = period_s
        self._stats = {bid: _BundleStats() for bid in bundles}
        self._lock = threading.Lock()
        self.started = time.time()

    def record(self, result: Result, bytes_up: int, body: bytes | None, is_frame: bool) -> None:
        """One answered request: ``body`` is the frame (``is_frame``) or the payload."""
        st = self._stats.get(result.bundle_id)
        if st is None:
            return
        t = result.timed  # a server-made result always carries its timing
        top = result.classes[0] if result.classes else "?"
        event = _Event(time.time(), bytes_up, t.queue_ms, t.decode_ms, t.compute_ms,
                       t.total_ms, t.batch_size, top)  # fmt: skip
        payload = body
        if body is not None and is_frame:
            try:
                payload = wire.decode_frame(body)[1]
            except SplitInferError:
                payload = None
        with self._lock:
            st.events.append(event)
            st.total += 1
            if payload is not None:
                st.last_payload = payload

    def edge_report(self, report: Any) -> None:
        """Stage times an edge client measured (the edge page sends them after a run):
        ``{"bundle", "mode", "transport", "count", "head_ms", "encode_ms", "network_ms"}``;
        BadInput for anything else."""
        if not isinstance(report, dict) or set(report) != set(EDGE_KEYS):
            raise BadInput(f"an edge report has exactly the keys {', '.join(EDGE_KEYS)}")
        st = self._stats.get(report["bundle"]) if isinstance(report["bundle"], str) else None
        if st is None:
            raise BadInput("an edge report must name a served bundle")
        clean: dict[str, Any] = {"at": time.time()}
        for key in ("mode", "transport"):
            value = report[key]
            if not isinstance(value, str) or len(value) > 16:
                raise BadInput(f"edge report: {key} must be a short string")
            clean[key] = value
        for key in ("count", "head_ms", "encode_ms", "network_ms"):
            value = report[key]
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok or not 0 <= value < 1e9 or value != value:
                raise BadInput(f"edge report: {key} must be a number >= 0")
            clean[key] = round(float(value), 3)
        with self._lock:
            st.edge = clean

    def share_input(self, bundle_id: str, pixels: bytes) -> None:
        """The input image of an inference whose client opted in to show it (uint8, the
        bundle's input shape). Nothing else ever sends the input to the server."""
        st = self._stats.get(bundle_id)
        if st is None:
            raise BadInput(f"no bundle {bundle_id!r} here")
        c, h, w = self.bundles[bundle_id].spec.input_shape
        if len(pixels) != c * h * w:
            raise BadInput(f"a shared input of bundle {bundle_id} is {c}x{h}x{w} = {c * h * w} "
                           f"uint8 values, got {len(pixels)} bytes")  # fmt: skip
        shared = {"channels": c, "height": h, "width": w, "pixels": list(pixels)}
        with self._lock:
            st.shared_input = shared

    def error(self, bundle_id: str | None, code: str) -> None:
        st = self._stats.get(bundle_id or "")
        if st is not None:
            with self._lock:
                st.errors[code] += 1

    def snapshot(self) -> dict[str, Any]:
        """The window as JSON: one entry per bundle."""
        now = time.time()
        out = []
        for bid, st in self._stats.items():
            with self._lock:
                recent = [e for e in st.events if now - e.at <= WINDOW_S]
                total, errors, payload = st.total, dict(st.errors), st.last_payload
                edge, shared = st.edge, st.shared_input
            tiles = self._tiles(bid, st, payload, now)
            entry = {"bundle": bid, "total": total, "errors": errors, **_summary(recent)}
            out.append({**entry, "edge": edge, "tiles": tiles, "input": shared})
        return {"at": now, "window_s": WINDOW_S, "bundles": out}

    def _tiles(
        self, bid: str, st: _BundleStats, payload: bytes | None, now: float
    ) -> dict[str, Any] | None:
        if payload is None or now - st.tiles_at < self.period_s:
            return st.last_tiles
        b = self.bundles[bid]
        try:
            with torch.no_grad():
                z = b.codec.decode(payload).reshape(b.feature_shape)
                restored = b.model.restoration(z)[0]
        except (SplitInferError, RuntimeError):
            return st.last_tiles
        lo, hi = float(restored.min()), float(restored.max())
        scaled = ((restored - lo) / max(hi - lo, 1e-9) * 255).round().to(torch.uint8)
        c, h, w = scaled.shape
        st.last_tiles = {"channels": c, "height": h, "width": w, "min": lo, "max": hi,
                         "pixels": scaled.reshape(-1).tolist()}  # fmt: skip
        st.tiles_at = now
        return st.last_tiles


def _summary(events: list[_Event]) -> dict[str, Any]:
    if not events:
        return {"rps": 0.0, "count": 0}
    span = max(events[-1].at - events[0].at, 1.0)

    def med(key: str) -> float:
        return round(statistics.median(getattr(e, key) for e in events), 3)

    return {
        "rps": round(len(events) / span, 2),
        "count": len(events),
        "bytes_up": round(statistics.fmean(e.bytes_up for e in events), 2),
        "queue_ms": med("queue_ms"),
        "decode_ms": med("decode_ms"),
        "compute_ms": med("compute_ms"),
        "total_ms": med("total_ms"),
        "batch": round(statistics.fmean(e.batch for e in events), 2),
        "top_classes": [e.top for e in events[-8:]],
    }
