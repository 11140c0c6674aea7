"""Small inputs for the bench tests: a sweep result, a demo result, a bench results.json."""

from __future__ import annotations

from typing import Any


def sweep_doc() -> dict[str, Any]:
    """A ``splitinfer.sweep/1`` document built by the sweep's own ``assemble``."""
    from splitinfer.train.sweep import SweepConfig, assemble

    def point(family: str, codec: str, acc: float, frame: float, cut: str | None = None,
              unit: dict[str, int] | None = None) -> dict[str, Any]:  # fmt: skip
        return {"family": family, "cut": cut, "unit": unit, "codec": codec, "trained": False,
                "accuracy": acc, "bytes": frame, "frame_bytes": frame,
                "payload_bytes": frame - 15, "encode_ms": 0.2, "decode_ms": 0.1}  # fmt: skip

    records = [
        point("cloud-only", "png", 0.92, 520.0),
        point("cloud-only", "jpeg:quality=50", 0.90, 400.0),
        point("ulhaq", "quant:bits=8,clip=p99.9|tile|jpeg:quality=30", 0.915, 1600.0, "stage1"),
        point("ours", "quant:bits=2,clip=0:1|ans", 0.913, 60.0, "stage1",
              {"channels": 2, "stride": 2}),
        point("ours", "quant:bits=4,clip=0:1|ans", 0.918, 110.0, "stage1",
              {"channels": 4, "stride": 1}),
    ]  # fmt: skip
    config = SweepConfig(model="fmnist_resnet", backbone="weights.safetensors")
    return assemble(config, records, 0.92, [], [], "fashion-mnist", 200, "test", {"cpu": "t"})


def demo_doc() -> dict[str, Any]:
    """A ``splitinfer.demo/1`` results.json with one link."""
    rows = []
    for mode, p50, planned, up in (("cloud-only", 30.0, 31.5, 480.0), ("split", 28.0, 27.0, 52.0),
                                   ("mobile-only", 4.0, 5.0, 0.0)):  # fmt: skip
        rows.append({
            "link": "wifi", "mode": mode, "requests": 10, "latency_ms_p50": p50,
            "latency_ms_p95": p50 * 1.3, "planner_ms": planned,
            "planner_error_pct": 100 * (planned - p50) / p50,
            "planner_wire_only_ms": planned * 0.9,
            "planner_wire_only_error_pct": 100 * (planned * 0.9 - p50) / p50,
            "bytes_up": up, "accuracy": 0.9, "energy_mj_modeled": 10.0,
        })  # fmt: skip
    return {
        "format": "splitinfer.demo/1", "started": "2026-11-27T00:00:00Z", "rows": rows,
        "config": {"images": 10, "accuracy_images": 200, "device": "host"},
        "machine": {"cpu": "test"}, "bundle": {"id": "fixture"}, "notes": ["a note"],
    }  # fmt: skip


def results_doc() -> dict[str, Any]:
    """A minimal ``splitinfer.bench/1`` results.json: one quoted table, one skipped run."""
    table = {
        "id": "t", "title": "A table", "caption": "What it compares.", "readme": True,
        "columns": [
            {"key": "plan", "label": "plan", "basis": "", "unit": ""},
            {"key": "ms", "label": "latency", "basis": "modeled", "unit": "ms"},
            {"key": "p50", "label": "p50", "basis": "measured", "unit": "ms"},
            {"key": "gain", "label": "gain", "basis": "modeled", "unit": "x"},
        ],
        "rows": [{"plan": "split | cut", "ms": 12.25, "p50": 1234.4, "gain": 2.0}],
    }  # fmt: skip
    return {
        "format": "splitinfer.bench/1", "created": "2026-11-27 12:00:00 UTC",
        "date": "2026-11-27", "command": "splitinfer bench", "quick": False,
        "machine": {"cpu": "AMD EPYC", "cores": 2, "torch_threads": 2, "torch": "2.14.1",
                    "python": "3.11.7", "load_start": [1.0, 1.0, 1.0]},
        "config": {}, "seconds": 10.0,
        "experiments": {
            "seeds": {"name": "seeds", "title": "Seeds", "status": "ok", "summary": "S.",
                      "tables": [table], "figures": [], "notes": [], "seconds": 1.0},
            "rate-accuracy": {"name": "rate-accuracy", "title": "RA", "status": "skipped",
                              "summary": "", "tables": [], "figures": [],
                              "notes": ["not available: run X"], "seconds": 0.0},
        },
    }  # fmt: skip
