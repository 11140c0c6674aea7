"""Re-planning in mode ``auto``: when to plan again, and when a new plan wins. No transport.

:class:`Replanner` is fed the runner's link estimate after every request and a cost
function (estimate -> modeled cost of each choice); it answers which choice the *next*
request runs::

    estimate ─► due? (moved > threshold since the last plan, or N requests since it)
              ─► costs(estimate) ─► best beats current by margin? ─► K times in a row? ─► switch

- **Due**: the uplink rate or the RTT moved by more than ``threshold`` (relative) from
  the estimate the last plan was made with, or ``every`` requests passed since it.
  While a switch is pending, every request is a re-plan (to confirm it or drop it).
- **Hysteresis**: a challenger must cost at most ``(1 - margin)`` of the current choice,
  and be the best at ``hold`` consecutive re-plans, before it becomes current. A single
  noisy estimate cannot flip the plan, and estimates wandering around the point where two
  choices cost the same do not make it flap (the margin is a dead band). A re-plan on a
  link *step* (the estimator saw several requests in a row far off its estimate, the
  same way: :class:`~splitinfer.edge.estimate.LinkEstimator`) is already confirmed by
  those requests: there the margin alone decides (``step_hold``, default on).
- **Device work**: with ``measured_device`` the costs price each choice's device work
  at what the runner measured (:class:`~splitinfer.edge.estimate.DeviceTimes`), and a
  measurement that moves a price by more than ``threshold`` is a re-plan too.
- **Exploration**: mobile-only sends nothing, so its estimate would never move again.
  After every ``every`` requests in mobile-only, one request runs in the best network choice
  instead (it is run once, not twice: it is that request's only run), so the estimate
  stays fresh and the plan can come back to the network; while a network choice is the
  challenger (after an exploring request, a ping or a re-priced device), the requests run
  it, so that ``hold`` is met by requests on the link rather than by re-planning the same
  estimate. With ``skip_hopeless``, an
  exploration is skipped when even the best link seen so far (highest rate, lowest RTT;
  before any was seen, the declared link with no RTT) would not make a network choice win
  by the margin.
- **Pings** (``ping_every``, off by default): on the device, after every ``ping_every``
  requests the runner sends a ping (a round trip that carries no request: HTTP
  ``GET /healthz``, gRPC ``ListBundles``, a WebSocket ping) *after* the request's answer,
  off its latency. The ping's time feeds the estimator as a request of 0 bytes, so its
  RTT stays fresh while nothing else is sent: a link that comes back (3G to 4G) shows
  within ``ping_every`` requests instead of at the next exploration. The rate is not
  seen by a ping (it is held); exploring requests still refresh it. A ping costs a few
  hundred bytes and radio time; it is never an inference, so nothing is sent twice.
  With ``skip_hopeless``, a ping is skipped when an exploration would be.

A request runs under the choice it started with; a switch applies to the next request,
so switching never drops, repeats or retries a request.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from splitinfer.edge.estimate import LinkEstimate
from splitinfer.errors import BadInput

LOCAL = "mobile-only"


class Choice(NamedTuple):
    """One way to run a request: the mode, and the rate point (``None``: the bundle's only)."""

    mode: str
    rate: str | None = None

    def __str__(self) -> str:
        return self.mode if self.rate is None else f"{self.mode}@{self.rate}"


#: the modeled cost (lower is better: ms, mJ or bytes) of every choice, for one estimate
CostFn = Callable[[LinkEstimate], Mapping[Choice, float]]


@dataclass(frozen=True)
class ReplanPolicy:
    """When ``auto`` plans again and how much a new plan must win by."""

    threshold: float = 0.25  # re-plan when up rate or RTT moved by this fraction
    every: int = 20  # ... and at least every this many requests (0: only on moves)
    margin: float = 0.10  # a challenger must cost <= (1 - margin) x the current choice
    hold: int = 2  # ... at this many consecutive re-plans
    #: skip an exploring request when even the best link seen this session (highest rate,
    #: lowest RTT; until one is seen, the declared link with no RTT) would not make a
    #: network choice win: it could only cost
    skip_hopeless: bool = False
    #: price each choice's device work at what the runner measured for it (or the
    #: measured / modeled ratio of the choices run), not at the device profile alone
    measured_device: bool = True
    #: a re-plan on a link step the estimator saw over several requests switches without
    #: waiting ``hold`` re-plans more (the margin still applies)
    step_hold: bool = True
    #: on the device, ping the server after every this many requests (0: never), off the
    #: requests' latency, so the RTT estimate stays fresh while nothing else is sent
    ping_every: int = 0

    def __post_init__(self) -> None:
        if (
            not self.threshold > 0 or self.every < 0 or not 0 <= self.margin < 1
            or self.hold < 1 or self.ping_every < 0
        ):  # fmt: skip
            raise BadInput(
                "re-planning needs threshold > 0, every >= 0, margin in [0, 1), hold >= 1 "
                f"and ping_every >= 0; got threshold={self.threshold}, every={self.every}, "
                f"margin={self.margin}, hold={self.hold}, ping_every={self.ping_every}"
            )

    def to_json(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "every": self.every, "margin": self.margin,
                "hold": self.hold, "skip_hopeless": self.skip_hopeless,
                "measured_device": self.measured_device,
                "step_hold": self.step_hold, "ping_every": self.ping_every}  # fmt: skip


@dataclass(frozen=True)
class Switch:
    """One change of plan: after request ``after`` (its count), from ``old`` to ``new``."""

    after: int
    old: Choice
    new: Choice
    old_cost: float
    new_cost: float
    up_mbps: float | None
    rtt_ms: float | None

    def to_json(self) -> dict[str, Any]:
        return {"after": self.after, "from": str(self.old), "to": str(self.new),
                "old_cost": self.old_cost, "new_cost": self.new_cost,
                "up_mbps": self.up_mbps, "rtt_ms": self.rtt_ms}  # fmt: skip


class Replanner:
    """Decides the choice each request of mode ``auto`` runs (see the module docstring)."""

    def __init__(self, costs: CostFn, current: Choice, policy: ReplanPolicy | None = None) -> None:
        self.costs = costs
        self.policy = policy or ReplanPolicy()
        self.current = current
        self.switches: list[Switch] = []
        self.replans = 0
        self._requests = 0
        self._since_plan = 0
        self._since_explore = 0
        self._planned_at: LinkEstimate | None = None
        self._pending: Choice | None = None
        self._streak = 0
        self.last_costs: dict[Choice, float] = {}
        self._best_seen: LinkEstimate | None = None  # highest up rate, lowest RTT so far
        self.skipped = 0  # exploring requests skipped as hopeless (policy.skip_hopeless)
        self._since_ping = 0  # requests run on the device since the last ping or network one
        self.pings = 0  # pings asked for (policy.ping_every)
        self.pings_skipped = 0  # ... and skipped as hopeless (policy.skip_hopeless)

    def next_choice(self) -> Choice:
        """What the next request runs: the current choice, or (in mobile-only, every
        ``every`` requests) the best network choice, to keep the estimate fresh."""
        every = self.policy.every
        network = {c: v for c, v in self.last_costs.items() if c.mode != LOCAL}
        if self.current.mode != LOCAL or not every or not network:
            return self.current
        if self._pending is not None and self._pending.mode != LOCAL:
            # a network choice is the challenger (after an exploring request, a ping or a
            # re-priced device): confirm it on the link, since re-planning again on the
            # device would only repeat the same estimate
            self._since_explore = 0
            return self._pending
        if self._since_explore < every:
            self._since_explore += 1
            return self.current
        self._since_explore = 0
        if self.policy.skip_hopeless and self._hopeless():
            self.skipped += 1
            return self.current
        return min(network, key=network.__getitem__)

    def _hopeless(self) -> bool:
        """Whether even an optimistic network would not beat the device by the margin: the
        best link seen; before any was seen, the declared link with no RTT at all (the
        declared link itself is a guess, and may be slower than the real one)."""
        at_best = self.costs(self._best_seen or LinkEstimate(None, 0.0, 0, "no RTT"))
        local = at_best.get(self.current, math.inf)
        offload = [v for c, v in at_best.items() if c.mode != LOCAL]
        return not offload or min(offload) > (1.0 - self.policy.margin) * local

    def ping_due(self, ran: Choice) -> bool:
        """After a request that ran ``ran``: whether to ping now (``policy.ping_every``
        requests in a row on the device). Counted here; call once per request."""
        every = self.policy.ping_every
        if not every or ran.mode != LOCAL or self.current.mode != LOCAL:
            self._since_ping = 0
            return False
        self._since_ping += 1
        if self._since_ping < every:
            return False
        self._since_ping = 0
        if self.policy.skip_hopeless and self._hopeless():
            self.pings_skipped += 1
            return False
        self.pings += 1
        return True

    def observe(
        self, estimate: LinkEstimate, device_moved: bool = False, stepped: bool = False,
        *, ping: bool = False,
    ) -> Switch | None:  # fmt: skip
        """After one request (or, with ``ping``, a ping that followed one): re-plan if due
        (or ``device_moved``: the measured device work changed a choice's price; or
        ``stepped``: the estimator followed a step of the link, which needs no ``hold``
        with ``policy.step_hold``); the switch it makes, if any (for the next request)."""
        if not ping:
            self._requests += 1
            self._since_plan += 1
        self._best_seen = _best(self._best_seen, estimate)
        if not device_moved and not stepped and not self._due(estimate):
            return None
        return self._replan(estimate, confirmed=stepped and self.policy.step_hold)

    def _due(self, est: LinkEstimate) -> bool:
        if self._pending is not None or self._planned_at is None:
            return True
        every = self.policy.every
        if every and self._since_plan >= every:
            return True
        old = self._planned_at
        return _moved(old.up_mbps, est.up_mbps, self.policy.threshold) or _moved(
            old.rtt_ms, est.rtt_ms, self.policy.threshold
        )

    def _replan(self, est: LinkEstimate, confirmed: bool = False) -> Switch | None:
        self.replans += 1
        self._since_plan = 0
        self._planned_at = est
        costs = dict(self.costs(est))
        if not costs:
            return None
        self.last_costs = costs
        best = min(costs, key=costs.__getitem__)
        here = costs.get(self.current)
        wins = best != self.current and (
            here is None or costs[best] <= (1.0 - self.policy.margin) * here
        )
        if not wins:
            self._pending, self._streak = None, 0
            return None
        self._streak = self._streak + 1 if best == self._pending else 1
        self._pending = best
        if self._streak < self.policy.hold and not confirmed:
            return None
        switch = Switch(
            self._requests, self.current, best, here if here is not None else float("inf"),
            costs[best], est.up_mbps, est.rtt_ms,
        )  # fmt: skip
        self.switches.append(switch)
        self.current, self._pending, self._streak = best, None, 0
        self._since_explore = 0
        return switch


def _best(old: LinkEstimate | None, new: LinkEstimate) -> LinkEstimate | None:
    """The best link seen: the highest up rate and the lowest RTT of ``old`` and ``new``."""
    if new.up_mbps is None and new.rtt_ms is None:
        return old
    if old is None:
        return new
    ups = [u for u in (old.up_mbps, new.up_mbps) if u is not None]
    rtts = [r for r in (old.rtt_ms, new.rtt_ms) if r is not None]
    return LinkEstimate(max(ups) if ups else None, min(rtts) if rtts else None,
                        new.samples, "best seen")  # fmt: skip


def _moved(old: float | None, new: float | None, threshold: float) -> bool:
    """``new`` differs from ``old`` by more than ``threshold`` of ``old`` (known -> unknown
    and unknown -> known count as moves)."""
    if old is None or new is None:
        return (old is None) != (new is None)
    if old == 0:
        return new != 0
    return abs(new - old) / abs(old) > threshold
