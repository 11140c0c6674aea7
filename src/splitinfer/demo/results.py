"""What a demo run measured: one mode's samples over one link (:class:`ModeSamples`), one
link's run (:class:`LinkRun`), and the whole run (:class:`DemoResults`, whose ``to_json``
is results.json)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from splitinfer.demo.config import MODES, RESULTS_FORMAT, DemoConfig
from splitinfer.timing import percentile

# --- measurements ---------------------------------------------------------------------


def _pct(values: Sequence[float], q: float) -> float:
    return percentile(values, q)


@dataclass
class ModeSamples:
    """Per-request numbers of one mode over one link (lists, in request order)."""

    mode: str
    total_ms: list[float] = field(default_factory=list)
    head_ms: list[float] = field(default_factory=list)
    encode_ms: list[float] = field(default_factory=list)
    network_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    bytes_up: list[int] = field(default_factory=list)
    bytes_down: list[int] = field(default_factory=list)
    predictions: list[int] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    wire_up: float = 0.0  # bytes per request on the wire (HTTP included), from the emulator
    wire_down: float = 0.0

    def add(self, r: Any, label: int) -> None:
        self.total_ms.append(r.total_ms)
        self.head_ms.append(r.head_ms)
        self.encode_ms.append(r.encode_ms)
        self.network_ms.append(r.network_ms)
        self.server_ms.append(r.server_ms)
        self.bytes_up.append(r.bytes_up)
        self.bytes_down.append(r.bytes_down)
        self.predictions.append(r.prediction)
        self.labels.append(label)

    @property
    def n(self) -> int:
        return len(self.total_ms)

    def summary(self) -> dict[str, Any]:
        n = max(self.n, 1)
        correct = sum(p == y for p, y in zip(self.predictions, self.labels, strict=True))
        return {
            "mode": self.mode,
            "requests": self.n,
            "latency_ms_p50": _pct(self.total_ms, 50),
            "latency_ms_p95": _pct(self.total_ms, 95),
            "latency_ms_mean": sum(self.total_ms) / n,
            "latency_ms_min": min(self.total_ms, default=0.0),
            "latency_ms_max": max(self.total_ms, default=0.0),
            **{
                f"{k}_p50": _pct(getattr(self, k), 50)
                for k in ("head_ms", "encode_ms", "network_ms", "server_ms")
            },
            "bytes_up_mean": sum(self.bytes_up) / n,
            "bytes_down_mean": sum(self.bytes_down) / n,
            "wire_bytes_up_per_request": self.wire_up,
            "wire_bytes_down_per_request": self.wire_down,
            "online_accuracy": correct / n,
        }

    def to_json(self) -> dict[str, Any]:
        out = self.summary()
        out["per_request"] = {
            k: [round(v, 4) if isinstance(v, float) else v for v in getattr(self, k)]
            for k in _PER_REQUEST
        }
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModeSamples:
        lists = {k: list(data["per_request"][k]) for k in _PER_REQUEST}
        return cls(
            data["mode"], **lists, wire_up=float(data["wire_bytes_up_per_request"]),
            wire_down=float(data["wire_bytes_down_per_request"]),
        )  # fmt: skip


_PER_REQUEST = (
    "total_ms", "head_ms", "encode_ms", "network_ms", "server_ms", "bytes_up", "bytes_down",
    "predictions", "labels",
)  # fmt: skip


@dataclass
class LinkRun:
    """One link's measurement: its settings, every mode's samples over the link, and every
    mode's samples again over the unshaped loopback proxy, taken side by side."""

    link: str
    settings: dict[str, Any]
    modes: dict[str, ModeSamples]
    seconds: float = 0.0
    loopback: dict[str, ModeSamples] = field(default_factory=dict)
    device_emulation: dict[str, Any] | None = None  # DeviceEmulation.to_json() of the edge

    def to_json(self) -> dict[str, Any]:
        return {
            "link": self.link,
            "settings": self.settings,
            "seconds": round(self.seconds, 2),
            "modes": {m: s.to_json() for m, s in self.modes.items()},
            "loopback": {m: s.to_json() for m, s in self.loopback.items()},
            "device_emulation": self.device_emulation,
        }

    @classmethod
    def merge(cls, runs: Sequence[LinkRun]) -> LinkRun:
        """One link measured by several devices (shares of the images, in order) as one run."""
        first = runs[0]

        def merged(parts: list[ModeSamples]) -> ModeSamples:
            out = ModeSamples(parts[0].mode)
            for k in _PER_REQUEST:
                setattr(out, k, [v for p in parts for v in getattr(p, k)])
            n = max(sum(p.n for p in parts), 1)
            out.wire_up = sum(p.wire_up * p.n for p in parts) / n
            out.wire_down = sum(p.wire_down * p.n for p in parts) / n
            return out

        return cls(
            first.link, {**first.settings, "devices": len(runs)},
            {m: merged([r.modes[m] for r in runs]) for m in first.modes},
            max(r.seconds for r in runs),
            {m: merged([r.loopback[m] for r in runs]) for m in first.loopback},
            first.device_emulation,
        )  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LinkRun:
        modes = {m: ModeSamples.from_json(v) for m, v in data["modes"].items()}
        loop = {m: ModeSamples.from_json(v) for m, v in data["loopback"].items()}
        return cls(
            data["link"], data["settings"], modes, data["seconds"], loop,
            data.get("device_emulation"),
        )  # fmt: skip


# --- the whole demo -------------------------------------------------------------------


class DemoDoc(TypedDict):
    """results.json of a demo run (``splitinfer.demo/...``; docs/demo.md reads it)."""

    format: str
    started: str
    config: dict[str, Any]  # DemoConfig.to_json()
    machine: dict[str, Any]
    bundle: dict[str, Any]
    phases_s: dict[str, float]  # wall seconds per phase
    phases_cpu_s: dict[str, float]
    rows: list[dict[str, Any]]  # one per (link, mode): the summary table
    accuracy: dict[str, Any]
    compute_in_process: dict[str, Any]
    planner_inputs: dict[str, dict[str, dict[str, Any]]]  # link -> kind -> inputs
    predictions_modeled: dict[str, dict[str, dict[str, dict[str, Any]]]]
    links: list[dict[str, Any]]  # LinkRun.to_json() each
    online_vs_offline_agreement: dict[str, dict[str, int]]
    notes: list[str]


@dataclass
class DemoResults:
    """Everything one demo run measured and modeled; ``to_json`` is results.json."""

    config: DemoConfig
    machine: dict[str, Any]
    bundle: dict[str, Any]
    accuracy: dict[str, Any]
    compute: dict[str, Any]
    links: list[LinkRun]
    predictions: dict[str, dict[str, dict[str, dict[str, Any]]]]  # kind -> link -> mode
    planner_inputs: dict[str, dict[str, dict[str, Any]]]  # link -> kind -> inputs
    phases: dict[str, float]  # wall seconds
    cpu_seconds: dict[str, float]  # CPU seconds of this process and the server, per phase
    started: str
    agreement: dict[str, dict[str, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        """One row per (link, mode): the numbers of the summary table."""
        rows = []
        for lr in self.links:
            summ = {m: lr.modes[m].summary() for m in MODES}
            energy = {m: self.predictions["energy"][lr.link][m]["energy_mj"] for m in MODES}
            cloud = summ["cloud-only"]
            for m in MODES:
                s = summ[m]
                cal = self.predictions["calibrated"][lr.link][m]["latency_ms"]
                raw = self.predictions["wire_only"][lr.link][m]["latency_ms"]
                p50 = s["latency_ms_p50"]
                rows.append({
                    "link": lr.link, "mode": m, "requests": s["requests"],
                    "latency_ms_p50": p50, "latency_ms_p95": s["latency_ms_p95"],
                    "bytes_up": s["bytes_up_mean"],
                    "wire_bytes_up": s["wire_bytes_up_per_request"],
                    "wire_bytes_down": s["wire_bytes_down_per_request"],
                    "energy_mj_modeled": energy[m],
                    "accuracy": self.accuracy[m]["accuracy"],
                    "accuracy_images": self.accuracy[m]["images"],
                    "online_accuracy": s["online_accuracy"],
                    "latency_vs_cloud": p50 / cloud["latency_ms_p50"],
                    "energy_vs_cloud": energy[m] / energy["cloud-only"],
                    "bytes_vs_cloud": s["bytes_up_mean"] / cloud["bytes_up_mean"],
                    "planner_ms": cal, "planner_error_pct": 100 * (cal - p50) / p50,
                    "planner_wire_only_ms": raw,
                    "planner_wire_only_error_pct": 100 * (raw - p50) / p50,
                    **{k: s[k] for k in ("head_ms_p50", "encode_ms_p50", "network_ms_p50",
                                         "server_ms_p50")},
                })  # fmt: skip
        return rows

    def to_json(self) -> DemoDoc:
        return {
            "format": RESULTS_FORMAT,
            "started": self.started,
            "config": self.config.to_json(),
            "machine": self.machine,
            "bundle": self.bundle,
            "phases_s": self.phases,
            "phases_cpu_s": self.cpu_seconds,
            "rows": self.rows(),
            "accuracy": self.accuracy,
            "compute_in_process": self.compute,
            "planner_inputs": self.planner_inputs,
            "predictions_modeled": self.predictions,
            "links": [lr.to_json() for lr in self.links],
            "online_vs_offline_agreement": self.agreement,
            "notes": self.notes,
        }
