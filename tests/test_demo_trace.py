"""A trace reaches the demo's link workers: settings survive the worker protocol, the
config refuses a CSV trace for several links, a bad trace fails before start-up."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from splitinfer.demo import DemoConfig, run_demo
from splitinfer.errors import BadInput
from splitinfer.net import BadTrace, LinkSettings

ROOT = Path(__file__).resolve().parents[1]


def test_link_settings_with_a_trace_survive_the_worker_protocol() -> None:
    s = LinkSettings.from_profile(
        "3g", trace=str(ROOT / "traces" / "3g-dropouts.up.trace"), loss=0.01, burst_bytes=1
    )
    assert s.name == "3g+trace:3g-dropouts.up.trace"
    again = LinkSettings(**json.loads(json.dumps(dataclasses.asdict(s))))
    assert again == s
    trace = again.schedule()
    assert trace is not None and trace.format == "mahimahi"
    assert trace.down.capacity.rate_at(0) == pytest.approx(2.0e6 / 8)  # 3g's fixed downlink


def test_a_csv_trace_takes_one_link() -> None:
    with pytest.raises(BadInput, match="CSV trace sets the whole link"):
        DemoConfig(links=("3g", "4g"), trace="traces/commute.csv").check()
    DemoConfig(links=("4g",), trace="traces/commute.csv").check()


def test_a_bad_trace_fails_before_start_up(tmp_path: Path) -> None:
    bad = tmp_path / "bad.trace"
    bad.write_text("10\n5\n")
    with pytest.raises(BadTrace, match=r"bad\.trace line 2"):
        run_demo(DemoConfig.quick(trace=str(bad)))
