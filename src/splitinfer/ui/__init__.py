"""The static pages the server mounts: the edge page (``/edge/``) and the monitor (``/ui/``).

``static/vendor/`` holds onnxruntime-web, fetched from the npm registry at a pinned version
and checked against a recorded checksum by ``scripts/ensure-web.sh`` (``make web``); it is
not committed.
"""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
VENDOR = STATIC / "vendor"
ORT_FILES = ("ort.min.js", "ort-wasm-simd-threaded.jsep.mjs", "ort-wasm-simd-threaded.jsep.wasm")


def vendor_ready() -> bool:
    """True when the onnxruntime-web files the edge page loads are installed."""
    return all((VENDOR / f).is_file() for f in ORT_FILES)
