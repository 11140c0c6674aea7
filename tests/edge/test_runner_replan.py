"""Mode auto re-plans under a step of the link and switches without losing or repeating a
request. A scripted transport answers at once with the time a link of the scripted rate
and RTT would take (no sockets, no sleeping); the link steps by request count."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pytest
import torch

from splitinfer.bundle import Bundle
from splitinfer.data import synthetic
from splitinfer.edge import CloudUnavailable, EdgeRunner
from splitinfer.edge.replan import ReplanPolicy
from splitinfer.edge.stream import run_stream
from tests.cloud.conftest import CODEC, build
from tests.edge.scripted import ScriptedTransport
from tests.edge.test_auto import constructed

GOOD, BAD = (20.0, 20.0), (0.2, 400.0)  # (Mbps, RTT ms)


class SteppedLink(ScriptedTransport):
    """Answers request id ``n`` over the link of the last step starting at or before n;
    fails each id in ``flaky`` on its first attempt; counts every attempt per id."""

    def __init__(self, steps: Sequence[tuple[int, tuple[float, float]]], flaky: set[int]) -> None:
        self.steps, self.flaky = steps, flaky
        self.sent: Counter[int] = Counter()

    def elapsed_ms(self, request_id: int, nbytes: int) -> float:
        self.sent[request_id] += 1
        if request_id in self.flaky and self.sent[request_id] == 1:
            raise CloudUnavailable("scripted drop")
        mbps, rtt = next(link for start, link in reversed(self.steps) if request_id >= start)
        return self.link_ms(mbps, rtt, nbytes)


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return build("edge-test", CODEC)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return synthetic(80, seed=3)[0]


def test_a_step_down_and_up_switches_and_loses_nothing(
    bundle: Bundle, images: torch.Tensor
) -> None:
    link = SteppedLink([(0, GOOD), (20, BAD), (36, GOOD)], flaky={7, 25, 41})
    runner = EdgeRunner(bundle, link, retries=2)
    runner.plan_auto("wifi", "phone", inputs=constructed(),
                     replan=ReplanPolicy(threshold=0.25, every=5, margin=0.1, hold=2,
                                         measured_device=False))  # fmt: skip
    assert runner.decision is not None and runner.decision.mode in ("split", "cloud-only")
    summary = run_stream(runner, images, None, "auto")
    s = summary.to_json()
    ids = [r.request_id for r in summary.results]
    assert sorted(ids) == list(range(len(images))) and summary.duplicates == 0
    modes = [r.mode for r in summary.results]
    assert "mobile-only" in modes[20:36] and modes[-1] != "mobile-only"  # down, then back
    assert s["switches"] == len(runner.switches) >= 2
    assert [sw["to"] for sw in s["switch_log"]][:2] == ["mobile-only", runner.decision.mode]
    # every network request was sent once, plus one resend for each scripted drop
    network = {r.request_id for r in summary.results if r.mode != "mobile-only"}
    assert set(link.sent) == network
    assert all(link.sent[i] == (2 if i in link.flaky else 1) for i in network)
    assert all(not r.fell_back for r in summary.results)
    # each result ran under the plan it started with, and says which
    for before, r in zip(summary.results, summary.results[1:], strict=False):
        if before.switched_to is not None and r.planned != before.switched_to:
            assert r.mode != "mobile-only"  # only an exploring request departs from the plan
        assert r.planned is not None and r.planned.split("@")[0] == r.mode


def test_replan_none_decides_once(bundle: Bundle, images: torch.Tensor) -> None:
    link = SteppedLink([(0, GOOD), (5, BAD)], flaky=set())
    runner = EdgeRunner(bundle, link)
    d = runner.plan_auto("wifi", "phone", inputs=constructed(), replan=None)
    summary = run_stream(runner, images[:20], None, "auto")
    assert {r.mode for r in summary.results} == {d.mode}
    assert summary.to_json()["switches"] == 0 and runner.switches == []


class PingedLink(SteppedLink):
    """A SteppedLink that answers pings too, over the link of the runner's next request."""

    def __init__(self, steps: Sequence[tuple[int, tuple[float, float]]], runner: list[EdgeRunner]):
        super().__init__(steps, set())
        self.runner, self.pings = runner, 0

    def ping(self) -> float:
        self.pings += 1
        now = self.runner[0]._next_id
        _, rtt = next(link for start, link in reversed(self.steps) if now >= start)
        return rtt  # a ping carries no payload: the RTT alone


@pytest.mark.parametrize("ping_every", [0, 2])
def test_pings_on_the_device_catch_the_link_coming_back(
    bundle: Bundle, images: torch.Tensor, ping_every: int
) -> None:
    """The link fails at request 10 and comes back at 30. Exploring only every 40 requests,
    the runner stays on the device until request 50 or later; pinging every 2 requests on
    the device (after each request's answer), it is back on the network by request 35.
    Pings are not requests: every id is answered once and sent at most once."""
    holder: list[EdgeRunner] = []
    link = PingedLink([(0, GOOD), (10, BAD), (30, GOOD)], holder)
    runner = EdgeRunner(bundle, link, retries=0)
    holder.append(runner)
    runner.plan_auto("wifi", "phone", inputs=constructed(),
                     replan=ReplanPolicy(every=40, hold=2, measured_device=False,
                                         ping_every=ping_every))  # fmt: skip
    results = [runner.infer(images[i % len(images)], "auto") for i in range(60)]
    modes = [r.mode for r in results]
    assert "mobile-only" in modes[10:30]
    back = next((i for i in range(30, 60) if modes[i] != "mobile-only"), 60)
    pinged = [r.ping_ms for r in results if r.ping_ms is not None]
    assert runner.replanner is not None and runner.replanner.pings == link.pings == len(pinged)
    if ping_every:
        assert back <= 35 and link.pings >= 5
        assert all(r.mode == "mobile-only" for r in results if r.ping_ms is not None)
    else:
        assert back >= 50 and link.pings == 0 and not pinged
    assert [r.request_id for r in results] == list(range(60))
    assert all(v == 1 for v in link.sent.values())
    assert set(link.sent) == {r.request_id for r in results if r.mode != "mobile-only"}
