"""One way to write a result document (the demo's, the sweep's and the bench's JSON).

    write_json(folder / "results.json", run.to_json())   # atomic; strict JSON
    text = dumps(doc)

Strict JSON has no NaN or infinity: NaN becomes ``null`` and +-inf the strings ``"inf"`` /
``"-inf"``; paths become strings; any other non-JSON value is written as its ``str``.
The documents' shapes are typed where they are made: :class:`splitinfer.demo.results.DemoDoc`,
:class:`splitinfer.train.sweep.run.SweepDoc`, :class:`splitinfer.experiments.runner.BenchDoc`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def json_safe(value: Any) -> Any:
    """NaN -> None and +-inf -> "inf"/"-inf", recursively (strict JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def dumps(data: Any) -> str:
    """``data`` as indented strict JSON with a final newline."""
    return json.dumps(json_safe(data), indent=1, allow_nan=False, default=str) + "\n"


def write_json(path: Path, data: Any) -> None:
    """Write :func:`dumps` of ``data`` at ``path`` (folders made; replaced atomically, so a
    reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(dumps(data))
    os.replace(tmp, path)
