"""Mode auto switches a multi-rate bundle's rate point as the link steps: the small point
on a slow link, the accurate one on a fast link, nothing lost or repeated. A scripted
gRPC-named transport (no sockets, no sleeping) decodes every frame it is sent, so each
result's rate is checked against the rate index the frame really carried."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

import pytest
import torch

from splitinfer import wire
from splitinfer.bottleneck import UnitConfig
from splitinfer.bundle import Bundle
from splitinfer.data import synthetic
from splitinfer.edge import EdgeRunner, Reply
from splitinfer.edge.auto import rate_points, replan_costs
from splitinfer.edge.estimate import LinkEstimate, LinkEstimator
from splitinfer.edge.replan import Choice, ReplanPolicy
from splitinfer.edge.stream import run_stream
from splitinfer.errors import BadInput
from splitinfer.train.multirate import new_point
from tests.edge.scripted import ScriptedTransport
from tests.edge.test_auto import constructed
from tests.test_bundle_multirate import LEARNED, UNIT, base_bundle

FAST, SLOW = (20.0, 20.0), (0.02, 20.0)  # (Mbps, RTT ms)
WEIGHT = 10.0  # ms per accuracy point lost


def metrics(frame_bytes: float, loss: float) -> dict[str, float]:
    return {"mean_payload_bytes": frame_bytes - 10, "mean_frame_bytes": frame_bytes,
            "accuracy": 0.9 - loss / 100, "accuracy_loss_points": loss,
            "encode_ms_median": 0.1, "decode_ms_median": 0.1}  # fmt: skip


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return multirate_bundle()


def multirate_bundle() -> Bundle:
    """Three points at cut stage2: 20 B / 5 pp, 60 B / 1 pp, 120 B / 0.5 pp (as measured)."""
    base = base_bundle()
    cut = tuple(base.model.head(torch.zeros(1, 1, 28, 28)).shape)
    torch.manual_seed(5)
    points = []
    for unit, codec, m in (
        (UNIT, "learned:levels=8,tables=element", metrics(60, 1.0)),
        (UnitConfig(channels=3, stride=2), LEARNED, metrics(120, 0.5)),
    ):
        bm = new_point(base.model, unit, codec, cut, True)
        points.append((unit, codec, bm.eval(), m))
    b = base.with_rates(points, bundle_id="mr-auto", built_by="pytest")
    spec = dataclasses.replace(b.spec, metrics=metrics(20, 5.0))
    return Bundle(spec, b.source, b.model, b.baseline, rates=[b.rate_model(1), b.rate_model(2)])


class SteppedGrpc(ScriptedTransport):
    """gRPC-named (split and mobile-only compete); request id n goes over the link of the
    last step at or before n; records the rate index of every frame it is sent."""

    name, url, sends_images = "grpc", "grpc://scripted", False

    def __init__(self, steps: Sequence[tuple[int, tuple[float, float]]]) -> None:
        self.steps = steps
        self.sent: Counter[int] = Counter()
        self.rates: dict[int, int | None] = {}

    def infer_frame(self, bundle_id: str, frame: bytes) -> Reply:
        header = wire.decode_frame(frame)[0]
        self.rates[header.request_id] = header.rate
        return self._reply(header.request_id, len(frame))

    def elapsed_ms(self, request_id: int, nbytes: int) -> float:
        self.sent[request_id] += 1
        mbps, rtt = next(link for start, link in reversed(self.steps) if request_id >= start)
        return self.link_ms(mbps, rtt, nbytes)


def inputs(bundle: Bundle):  # type: ignore[no-untyped-def]
    points = tuple(dataclasses.replace(p, cut="stage2") for p in rate_points(bundle))
    return dataclasses.replace(constructed(), rate_point=points[0], rate_points=points)


def test_the_costs_rank_rate_points_by_link_and_budget(bundle: Bundle) -> None:
    assert [p.frame_bytes for p in rate_points(bundle)] == [20, 60, 120]
    costs = replan_costs(inputs(bundle), "wifi", "phone", allowed=("split", "mobile-only"),
                         accuracy_weight=WEIGHT)  # fmt: skip
    fast = costs(LinkEstimate(FAST[0], FAST[1], 5, "fit"))
    slow = costs(LinkEstimate(SLOW[0], SLOW[1], 5, "fit"))
    assert set(fast) == {Choice("split", "0"), Choice("split", "1"), Choice("split", "2"),
                         Choice("mobile-only")}  # fmt: skip
    assert min(fast, key=fast.__getitem__) == Choice("split", "2")
    assert min(slow, key=slow.__getitem__) == Choice("split", "1")
    tight = replan_costs(inputs(bundle), "wifi", "phone", allowed=("split", "mobile-only"),
                         budget=0.8, accuracy_weight=WEIGHT)  # fmt: skip
    assert set(tight(LinkEstimate(*SLOW, 5, "fit"))) == {
        Choice("split", "2"),
        Choice("mobile-only"),
    }
    single = replan_costs(inputs(bundle), "wifi", "phone", rates=False)
    assert {c.rate for c in single(LinkEstimate(*FAST, 5, "fit"))} == {None}
    with pytest.raises(BadInput):
        replan_costs(inputs(bundle), "wifi", accuracy_weight=-1.0)


def test_a_step_down_and_up_switches_rate_and_loses_nothing(bundle: Bundle) -> None:
    images = synthetic(60, seed=3)[0]
    link = SteppedGrpc([(0, FAST), (20, SLOW), (40, FAST)])
    # frames of one size cannot tell rate from RTT: the estimator holds a known RTT (a prior
    # here; in use, the last fit over requests of different sizes) and reads the rate off
    # it, even for transfers this short (min_share=0: this link's RTT is fixed)
    estimator = LinkEstimator(rtt_ms=FAST[1], min_share=0.0)
    runner = EdgeRunner(bundle, link, retries=2, estimator=estimator)
    runner.plan_auto("wifi", "phone", inputs=inputs(bundle), accuracy_weight=WEIGHT,
                     replan=ReplanPolicy(threshold=0.25, every=5, margin=0.1, hold=2,
                                         measured_device=False))  # fmt: skip
    summary = run_stream(runner, images, None, "auto")
    results = summary.results
    assert sorted(r.request_id for r in results) == list(range(60)) and summary.duplicates == 0
    assert all(link.sent[r.request_id] == 1 for r in results if r.mode == "split")
    assert {r.mode for r in results} == {"split"}
    # each result's rate is the one its frame carried, and the one its plan named
    assert all(r.rate == link.rates[r.request_id] for r in results)
    assert all(r.planned == f"split@{r.rate}" for r in results)
    rates = [r.rate for r in results]
    assert rates[0] == 2 and rates[-1] == 2  # fast: the accurate point
    assert 1 in rates[20:40] and 2 not in rates[36:40]  # slow: down to the small point
    assert 1 not in rates[52:]  # and back up after the link recovers
    log = summary.to_json()["switch_log"]
    assert [s["to"] for s in log] == ["split@1", "split@2"]
    assert summary.to_json()["switches"] == len(runner.switches) == 2


def test_websocket_sessions_stay_at_point_0(bundle: Bundle) -> None:
    link = SteppedGrpc([(0, FAST), (10, SLOW)])
    link.name = "ws"
    runner = EdgeRunner(bundle, link)
    runner.plan_auto("wifi", "phone", inputs=inputs(bundle), accuracy_weight=WEIGHT,
                     replan=ReplanPolicy(every=5, measured_device=False))  # fmt: skip
    results = runner.infer_many(synthetic(20, seed=1)[0], "auto")
    assert {r.rate for r in results if r.mode == "split"} == {0}
    assert set(link.rates.values()) == {0}
