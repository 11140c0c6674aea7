"""The adaptation experiment on a constructed stepped trace, at host speed (no cgroup):
the trace replay's network model, the oracle, and one small run end to end. The network
is replayed (not slept) and dominates, so the checks do not depend on this host's speed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from splitinfer.bundle import Bundle
from splitinfer.experiments import adaptation
from splitinfer.experiments.adaptation import (
    Policy,
    Record,
    TraceReplay,
    oracle,
    paired,
    run_policies,
)
from splitinfer.experiments.config import bench_config
from splitinfer.net.trace import load_trace

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "bundles" / "fmnist-r10-stage1-multirate"
# 8 Mbps = 1e6 B/s both ways, 100 ms RTT, no capacity from 1 s to 3 s
GAP = "t_s,up_mbps,down_mbps,rtt_ms,loss\n0,8,8,100,0\n1,0,8,100,0\n3,8,8,100,0\n"
# a good link, a 10 s drop-out, a good link again (the last row's start ends the trace)
STEP = "t_s,up_mbps,down_mbps,rtt_ms,loss\n0,50,50,10,0\n20,0,0,10,0\n30,50,50,10,0\n"
STEP += "90,50,50,10,0\n"


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return Bundle.load(BUNDLE)


def test_a_drop_out_holds_the_bytes_until_capacity_returns(bundle: Bundle, tmp_path: Path) -> None:
    (tmp_path / "gap.csv").write_text(GAP)
    link = TraceReplay(bundle, load_trace(tmp_path / "gap.csv"), "s")
    link.t_s = 0.0  # 1000 B up (1 ms), 50 ms, 1000 B down (1 ms), 50 ms
    assert link.network_ms(1000, 1000, 0.0) == pytest.approx(102.0)
    link.t_s = 1.0  # the uplink waits for t = 3 s
    assert link.network_ms(1000, 1000, 0.0) == pytest.approx(2102.0)
    link.t_s = 0.0  # the server's time is not network time
    assert link.network_ms(1000, 1000, 5.0) == pytest.approx(102.0)


def test_the_oracle_takes_the_best_choice_per_window() -> None:
    def recs(lat: list[float]) -> list[Record]:
        return [Record(i, float(i), "", x, 0.0, x, 0.0, None, i) for i, x in enumerate(lat)]

    fixed = {"a": recs([1, 1, 9, 9]), "b": recs([5, 5, 2, 2]), "c": recs([0, 0, 0, 0])}
    out, picks = oracle(fixed, ["a", "b"], window_s=2.0)  # c is not allowed
    assert picks == ["a", "b"] and [r.latency_ms for r in out] == [1, 1, 2, 2]


def test_paired_prices_each_choice_at_the_fixed_runs_record() -> None:
    def rec(i: int, choice: str, ms: float) -> Record:
        return Record(i, float(i), choice, ms, ms, 0.0, 0.0, None, i)

    fixed = {"a": [rec(0, "a", 1.0), rec(1, "a", 9.0)], "b": [rec(0, "b", 5.0), rec(1, "b", 2.0)]}
    ran = [rec(0, "b", 6.0), rec(1, "a", 8.5)]  # the same choices, timed again: noise
    assert [r.latency_ms for r in paired(ran, fixed)] == [5.0, 9.0]


def test_policies_run_interleaved_request_by_request() -> None:
    order: list[tuple[str, int]] = []

    class Runner:
        def __init__(self, name: str) -> None:
            self.name = name

        def infer(self, image: object, mode: str, rate: int) -> object:
            from types import SimpleNamespace

            order.append((self.name, len([o for o in order if o[0] == self.name])))
            return SimpleNamespace(head_ms=1.0, encode_ms=0.0, network_ms=0.0, server_ms=0.0,
                                   mode=mode, rate=None, prediction=0, request_id=0)  # fmt: skip

    class Link:
        t_s, index = 0.0, 0

    policies = {n: Policy(Runner(n), Link(), "mobile-only") for n in ("x", "y", "z")}  # type: ignore[arg-type]
    out = run_policies(policies, [0.0, 1.0, 2.0], torch.zeros(1, 1, 2, 2), None, (1.0, 1.0))
    assert [n for n, _ in order] == ["x", "y", "z", "y", "z", "x", "z", "x", "y"]
    assert all(len(v) == 3 for v in out.values())


def test_a_run_over_a_stepped_trace(tmp_path: Path) -> None:
    (tmp_path / "step.csv").write_text(STEP)
    cfg = bench_config()
    cfg.adaptation.bundle = str(BUNDLE)
    cfg.adaptation.trace_dir = str(tmp_path)
    cfg.adaptation.traces = ["step.csv"]
    cfg.adaptation.devices = ["phone:gflops=1"]  # planned for, not emulated
    # the edge runs at host speed here, far faster than that phone: priced as measured, the
    # device would win throughout; the test is about the replay and the switching
    cfg.adaptation.replan_measured_device = False
    cfg.adaptation.extra = []
    cfg.adaptation.emulate = False
    cfg.adaptation.interval_s = 1.0
    cfg.adaptation.images = 16
    cfg.adaptation.profile_repeats = 2
    result = adaptation.run(cfg, tmp_path / "out")
    rows = {r["policy"]: r for r in result["tables"][0]["rows"]}
    assert set(rows) == {"adaptive", "adaptive (paired)", "oracle", "split@0", "split@1",
                         "split@2", "split@3", "cloud-only", "mobile-only"}  # fmt: skip
    assert all(r["requests"] == 90 and r["lost"] == 0 and r["duplicated"] == 0
               for r in rows.values())  # fmt: skip
    assert all(math.isfinite(r["mean_ms"]) and r["p95_ms"] >= 0 for r in rows.values())
    allowed = result["data"]["allowed"]
    assert "split@1" not in allowed  # its measured loss (5.3 pp) is over the 2 pp budget
    assert all(rows["oracle"]["mean_ms"] <= rows[k]["mean_ms"] + 1e-9 for k in allowed)
    assert rows["adaptive"]["switches"] >= 2  # off the network in the drop-out, and back
    # paired: adaptive's choices priced on the fixed runs' records, as the oracle is
    assert rows["adaptive (paired)"]["mean_ms"] >= rows["oracle"]["mean_ms"] - 1e-9
    (verdict,) = result["data"]["verdicts"]
    assert verdict["adaptive_ms"] == rows["adaptive (paired)"]["mean_ms"]
    assert verdict["adaptive_measured_ms"] == rows["adaptive"]["mean_ms"]
    saved = json.loads((tmp_path / "out" / "adaptation.json").read_text())
    assert saved["summary"] == result["summary"]
    assert all((tmp_path / "out" / f["file"]).is_file() for f in result["figures"])
