"""Replanner: when mode auto plans again and when it switches. Pure: no sockets, no torch."""

from __future__ import annotations

import random

import pytest

from splitinfer.edge.estimate import LinkEstimate
from splitinfer.edge.replan import Choice, Replanner, ReplanPolicy
from splitinfer.errors import BadInput

SPLIT, LOCAL, CLOUD = Choice("split"), Choice("mobile-only"), Choice("cloud-only")


def est(up: float | None, rtt: float | None = 50.0) -> LinkEstimate:
    return LinkEstimate(up, rtt, 10, "fit")


def costs(e: LinkEstimate) -> dict[Choice, float]:
    """A toy model: offloading costs RTT + 4 kbit / rate; the device 40 ms."""
    up = 1.0 if e.up_mbps is None else e.up_mbps
    rtt = 50.0 if e.rtt_ms is None else e.rtt_ms
    return {SPLIT: rtt + 4.0 / up, CLOUD: rtt + 40.0 / up, LOCAL: 40.0}


def test_a_step_switches_after_hold_replans_and_not_before() -> None:
    r = Replanner(costs, SPLIT, ReplanPolicy(threshold=0.25, every=0, margin=0.1, hold=3))
    for _ in range(5):
        assert r.observe(est(10.0, 20.0)) is None  # split: 20.4 ms, the device 40
    assert r.current == SPLIT
    outcomes = [r.observe(est(10.0, 80.0)) for _ in range(3)]  # RTT steps: split now 80.4
    assert outcomes[:2] == [None, None] and outcomes[2] is not None
    assert (outcomes[2].old, outcomes[2].new) == (SPLIT, LOCAL)
    assert r.current == LOCAL and len(r.switches) == 1
    assert r.switches[0].after == 8


def test_a_small_win_is_not_enough() -> None:
    # split 45.4 vs the device 40: the device is better, but by less than the 20% margin
    r = Replanner(costs, SPLIT, ReplanPolicy(margin=0.2, hold=1, every=1))
    for _ in range(20):
        r.observe(est(10.0, 45.0))
    assert r.current == SPLIT and r.switches == []


def test_no_replan_without_a_move_until_every() -> None:
    seen: list[LinkEstimate] = []

    def counting(e: LinkEstimate) -> dict[Choice, float]:
        seen.append(e)
        return costs(e)

    r = Replanner(counting, SPLIT, ReplanPolicy(threshold=0.25, every=10))
    for _ in range(30):
        r.observe(est(10.0, 20.0 * random.Random(len(seen)).uniform(0.9, 1.1)))
    assert len(seen) == 1 + 2  # the first estimate, then every 10th of the 29 after it
    r.observe(est(10.0, 40.0))  # RTT doubled: due at once
    assert len(seen) == 4


def test_noisy_estimates_around_the_break_even_do_not_flap() -> None:
    """RTT wandering +-8% around where split and the device cost the same (39.6 ms),
    re-planned at every request; then +-20%, where the margin alone would not hold."""
    for noise, policy, most in (
        (0.08, ReplanPolicy(threshold=0.01, every=1, margin=0.1, hold=1), 0),
        (0.20, ReplanPolicy(threshold=0.01, every=1, margin=0.1, hold=4), 2),
    ):
        rng = random.Random(7)
        r = Replanner(costs, SPLIT, policy)
        naive = Replanner(costs, SPLIT, ReplanPolicy(threshold=0.01, every=1, margin=0, hold=1))
        for _ in range(500):
            e = est(10.0, 39.6 * rng.uniform(1 - noise, 1 + noise))
            r.observe(e)
            naive.observe(e)
        assert len(r.switches) <= most
        assert len(naive.switches) > 100  # the same estimates without hysteresis: it flaps


def test_one_outlier_estimate_does_not_switch() -> None:
    r = Replanner(costs, SPLIT, ReplanPolicy(hold=2, every=5))
    for i in range(40):
        r.observe(est(10.0, 500.0 if i == 20 else 20.0))
    assert r.switches == []


def test_mobile_only_explores_the_network_every_n_requests() -> None:
    r = Replanner(costs, SPLIT, ReplanPolicy(every=5, hold=1))
    r.observe(est(10.0, 200.0))  # a bad link: the device
    assert r.current == LOCAL
    ran = []
    for _ in range(12):
        choice = r.next_choice()
        ran.append(choice)
        r.observe(est(10.0, 200.0))  # no news while on the device
    assert [i for i, c in enumerate(ran) if c == SPLIT] == [5, 11]  # after 5 on the device
    assert all(c in (SPLIT, LOCAL) for c in ran) and r.current == LOCAL
    r.next_choice()
    assert r.observe(est(10.0, 5.0)) is not None and r.current == SPLIT  # the link came back


def test_a_choice_carries_its_rate_point() -> None:
    lo, hi = Choice("split", "r0"), Choice("split", "r2")

    def rates(e: LinkEstimate) -> dict[Choice, float]:
        up = e.up_mbps or 1.0
        return {lo: 20.0 + 8.0 / up, hi: 20.0 + 1.0 / up, LOCAL: 100.0}

    r = Replanner(rates, lo, ReplanPolicy(hold=1, every=1))
    r.observe(est(0.1))
    assert r.current == hi and str(r.current) == "split@r2"
    assert r.switches[0].to_json()["to"] == "split@r2"


@pytest.mark.parametrize(
    "kw", [{"threshold": 0}, {"every": -1}, {"margin": 1.0}, {"hold": 0}, {"ping_every": -1}]
)  # fmt: skip
def test_bad_policies_are_refused(kw: dict[str, float]) -> None:
    with pytest.raises(BadInput):
        ReplanPolicy(**kw)  # type: ignore[arg-type]


def test_skip_hopeless_explores_only_while_the_network_could_win() -> None:
    policy = ReplanPolicy(every=5, hold=1, skip_hopeless=True)
    r = Replanner(costs, SPLIT, policy)
    r.observe(est(10.0, 200.0))  # the best link seen is a bad one: the device, for good
    assert r.current == LOCAL
    ran = [r.next_choice() for _ in range(12) if r.observe(est(10.0, 200.0)) is None]
    assert set(ran) == {LOCAL} and r.skipped == 2
    seen = Replanner(costs, SPLIT, policy)
    seen.observe(est(10.0, 5.0))  # a good link was seen once: exploring may pay
    seen.observe(est(10.0, 200.0))
    assert seen.current == LOCAL
    explored = [seen.next_choice() for _ in range(6)]
    assert SPLIT in explored and seen.skipped == 0


def test_before_any_link_is_seen_skip_hopeless_asks_whether_no_rtt_would_win() -> None:
    """Mobile-only from the start sends nothing, so no link is ever seen. A device that
    beats the network even with no RTT at all (3 ms against split's 4 ms of transfer)
    never explores; one that only beats the declared link (40 ms against 54 ms at its
    50 ms RTT, but 4 ms without it) still does: the declared link may be slower than
    the real one."""

    def fast_device(e: LinkEstimate) -> dict[Choice, float]:
        return {**costs(e), LOCAL: 3.0}

    def explored(fn: object, policy: ReplanPolicy) -> list[Choice]:
        r = Replanner(fn, LOCAL, policy)  # type: ignore[arg-type]
        ran = []
        for _ in range(30):
            ran.append(r.next_choice())
            r.observe(est(None, None))
        return ran

    hopeless = ReplanPolicy(every=5, hold=1, skip_hopeless=True)
    assert set(explored(fast_device, hopeless)) == {LOCAL}
    assert explored(costs, hopeless).count(SPLIT) == 4  # the 40 ms device: worth a look
    assert explored(fast_device, ReplanPolicy(every=5, hold=1)).count(SPLIT) == 4


def test_a_step_the_estimator_saw_switches_without_hold() -> None:
    """``stepped``: the estimator saw several requests in a row far off its estimate, so
    the step is confirmed already; the margin still decides, the hold does not wait."""
    policy = ReplanPolicy(threshold=0.25, every=0, margin=0.1, hold=3)
    r = Replanner(costs, SPLIT, policy)
    r.observe(est(10.0, 20.0))
    switch = r.observe(est(10.0, 80.0), stepped=True)  # split 80.4 vs the device 40
    assert switch is not None and (switch.old, switch.new) == (SPLIT, LOCAL)
    small = Replanner(costs, SPLIT, policy)
    small.observe(est(10.0, 20.0))
    assert small.observe(est(10.0, 43.0), stepped=True) is None  # 43.4 vs 40: inside the margin
    off = Replanner(costs, SPLIT, ReplanPolicy(every=0, hold=3, step_hold=False))
    off.observe(est(10.0, 20.0))
    assert off.observe(est(10.0, 80.0), stepped=True) is None  # step_hold off: hold applies
    assert off.current == SPLIT


def test_an_exploring_request_that_wins_is_confirmed_on_the_link() -> None:
    """On the device, an exploring request that makes the network the challenger is
    followed by another network request (not a device one): hold is met by requests on
    the link, and the plan leaves the device one request sooner."""
    r = Replanner(costs, SPLIT, ReplanPolicy(every=3, hold=2))
    for _ in range(2):
        r.observe(est(10.0, 200.0))  # a bad link: the device after 2 re-plans
    assert r.current == LOCAL
    ran = []
    for _ in range(5):
        ran.append(r.next_choice())
        # no news while on the device; the link is back by the time it is explored
        r.observe(est(10.0, 5.0 if SPLIT in ran else 200.0))
    assert ran == [LOCAL, LOCAL, LOCAL, SPLIT, SPLIT]  # explored, then confirmed on the link
    assert r.current == SPLIT and r.switches[-1].after == 2 + 5


def test_pings_are_due_every_n_requests_on_the_device_only() -> None:
    r = Replanner(costs, LOCAL, ReplanPolicy(every=0, ping_every=3))
    due = [r.ping_due(LOCAL) for _ in range(7)]
    assert due == [False, False, True, False, False, True, False] and r.pings == 2
    assert r.ping_due(SPLIT) is False  # a network request restarts the count
    assert [r.ping_due(LOCAL) for _ in range(3)] == [False, False, True]
    off = Replanner(costs, LOCAL, ReplanPolicy())
    assert not any(off.ping_due(LOCAL) for _ in range(10))  # ping_every=0: never
    net = Replanner(costs, SPLIT, ReplanPolicy(ping_every=1))
    assert net.ping_due(LOCAL) is False  # the plan is not the device (a fallback ran there)
    # a ping's estimate re-plans without counting as a request
    r.observe(est(10.0, 5.0), ping=True)
    assert r._requests == 0 and r.current == LOCAL


def test_skip_hopeless_skips_pings_too() -> None:
    """A device that beats even a network with no RTT (3 ms against split's 4 ms of
    transfer) has nothing to learn from a ping."""

    def fast_device(e: LinkEstimate) -> dict[Choice, float]:
        return {**costs(e), LOCAL: 3.0}

    r = Replanner(fast_device, LOCAL, ReplanPolicy(ping_every=2, skip_hopeless=True))
    assert not any(r.ping_due(LOCAL) for _ in range(10))
    assert r.pings == 0 and r.pings_skipped == 5
    slow = Replanner(costs, LOCAL, ReplanPolicy(ping_every=2, skip_hopeless=True))
    assert sum(slow.ping_due(LOCAL) for _ in range(10)) == 5  # 40 ms: a network could win
