"""Passive link estimation: uplink throughput and RTT from the runner's own exchanges.

No probes and no transport: :class:`LinkEstimator` is fed, per answered request, the
bytes sent and the network time (wall time of the exchange minus the time the server
reports for itself), and fits the model ``network = rtt + bytes_up / up_rate``::

    (bytes_up, network_ms) per request ─► window (last N) ─► robust fit ─► EWMA ─► estimate

- **Robust fit** over the window. Where the sizes in the window differ (by
  ``min_spread`` or more, e.g. split frames beside cloud-only images, or frames whose
  entropy-coded size varies), a Theil-Sen fit: the slope (seconds per byte) is the
  median of the slopes between pairs of requests, the RTT the median of what is left of
  each request's time. Where they do not, the two cannot be told apart from timings
  alone: the RTT is held at its last fitted value (or the ``rtt_ms`` prior) and each
  request's throughput is ``bytes / (network - rtt)``, the median taken over the window.
  Without either, only the RTT is estimated (the median network time, transfer
  neglected) and the throughput is unknown (``None``).
- **EWMA** (weight ``alpha``) of the fitted values smooths what the window hands on.
- **Steps**: when ``step_after`` requests in a row (default 2) each took more than
  ``1 + step`` times (or less than ``1 / (1 + step)`` of) what the estimate predicts for
  them, the same way, the link has changed (a handover: Wi-Fi to 4G, 4G to 3G): the
  window restarts from those requests and their fit replaces the estimate, not
  smoothed. One outlier is never a step; the median and the EWMA would take
  ``window // 2 + 1`` requests and more to follow it.

Medians ignore a single outlier (a request delayed by a retransmission or a GC pause)
entirely while the window holds at least three requests, so one outlier never moves the
estimate by more than the spread of the others. A step of the network time by more than
``1 + step`` is followed after ``step_after`` requests; a smaller one (or with step
detection off, ``step_after=0``) as the median flips, after ``window // 2 + 1``
requests, and the EWMA closes the rest geometrically (``(1 - alpha)`` per request): with
the defaults (window 5, alpha 0.5) the estimate is then within 10% of the new rate 7
requests after a step of the rate when request sizes are equal, and 9 after a step of
the rate with the RTT stepping too when sizes vary (the pairwise fit needs a clear
majority of new requests; tests/edge/test_estimate.py).

Not modelled: the downlink (the answer's bytes are counted in the RTT), protocol bytes
beyond the payload (headers: they fall into the RTT, or lower the throughput slightly
when sizes are constant), and streamed requests (their times overlap; not fed).
"""

from __future__ import annotations

import itertools
import statistics
from collections import deque
from dataclasses import dataclass
from typing import Any

from splitinfer.errors import BadInput

#: Network time below this (ms) is treated as this, so a throughput sample stays finite.
MIN_TRANSFER_MS = 0.05


@dataclass(frozen=True)
class LinkEstimate:
    """The estimator's view of the link after ``samples`` requests.

    ``basis``: ``"fit"`` (RTT and rate fitted from requests of different sizes),
    ``"rtt-held"`` (equal sizes: the rate from the last known RTT), ``"latency-only"``
    (RTT from the network times, rate unknown) or ``"none"`` (no request answered yet).
    """

    up_mbps: float | None
    rtt_ms: float | None
    samples: int
    basis: str

    def to_json(self) -> dict[str, Any]:
        return {
            "up_mbps": None if self.up_mbps is None else round(self.up_mbps, 4),
            "rtt_ms": None if self.rtt_ms is None else round(self.rtt_ms, 3),
            "samples": self.samples,
            "basis": self.basis,
        }


class LinkEstimator:
    """EWMA over a windowed robust fit of ``network_ms = rtt + bytes_up / rate``."""

    def __init__(
        self,
        window: int = 5,
        alpha: float = 0.5,
        *,
        min_spread: float = 1.5,
        rtt_ms: float | None = None,
        up_mbps: float | None = None,
        min_signal: float = 3.0,
        min_share: float = 0.2,
        step: float = 0.5,
        step_after: int = 2,
    ) -> None:
        if window < 3 or not 0 < alpha <= 1 or not min_spread > 1:
            raise BadInput("window must be >= 3, alpha in (0, 1], min_spread > 1")
        for name, prior in (("rtt_ms", rtt_ms), ("up_mbps", up_mbps)):
            if prior is not None and not prior >= 0:
                raise BadInput(f"the {name} prior must be >= 0, got {prior}")
        if not min_signal >= 0:
            raise BadInput(f"min_signal must be >= 0, got {min_signal}")
        self.window, self.alpha, self.min_spread = window, alpha, min_spread
        if not 0 <= min_share < 1:
            raise BadInput(f"min_share must be in [0, 1), got {min_share}")
        self.min_signal, self.min_share = min_signal, min_share
        if not step > 0 or step_after < 0 or step_after == 1:
            raise BadInput(
                f"step must be > 0 and step_after 0 (off) or >= 2, got {step}, {step_after}"
            )
        self.step, self.step_after = step, step_after
        self._off: list[int] = []  # directions (+1 slower, -1 faster) of the last requests off
        self.steps = 0  # steps followed (the window restarted)
        self._seen: deque[tuple[int, float]] = deque(maxlen=window)
        self._rtt_ms, self._bps = rtt_ms, None if up_mbps is None else up_mbps * 1e6
        self._known_rtt = rtt_ms  # the last fitted (or prior) RTT, for equal-size windows
        self._samples = 0
        self._basis = "none"

    @property
    def estimate(self) -> LinkEstimate:
        mbps = None if self._bps is None else self._bps / 1e6
        return LinkEstimate(mbps, self._rtt_ms, self._samples, self._basis)

    def observe(self, bytes_up: int, network_ms: float) -> LinkEstimate:
        """Add one answered request: its payload bytes and its network time (ms)."""
        if bytes_up < 0 or not network_ms >= 0:
            raise BadInput(f"bytes_up and network_ms must be >= 0, got {bytes_up}, {network_ms}")
        stepped = self._stepped(int(bytes_up), float(network_ms))
        self._seen.append((int(bytes_up), float(network_ms)))
        self._samples += 1
        if stepped:  # the window restarts from the requests that showed the step
            for _ in range(len(self._seen) - self.step_after):
                self._seen.popleft()
            self._off.clear()
            self.steps += 1
        rtt, bps, self._basis = self._fit()
        if rtt is not None:
            old = self._rtt_ms
            self._rtt_ms = rtt if old is None or stepped else self._ewma(old, rtt)
        if bps is not None:
            old = self._bps
            self._bps = bps if old is None or stepped else self._ewma(old, bps)
        # no exchange takes less than one RTT: a faster one proves the RTT (held or smoothed)
        # stale, e.g. a drop-out's, so both come down to it at once
        if self._rtt_ms is not None and network_ms < self._rtt_ms:
            self._rtt_ms = float(network_ms)
        if self._known_rtt is not None and network_ms < self._known_rtt:
            self._known_rtt = float(network_ms)
        return self.estimate

    def _stepped(self, bytes_up: int, network_ms: float) -> bool:
        """Whether this request completes ``step_after`` in a row off the estimate's
        prediction by more than ``1 + step``, the same way."""
        if not self.step_after or self._rtt_ms is None:
            return False
        expected = self._rtt_ms + (8e3 * bytes_up / self._bps if self._bps else 0.0)
        ratio = network_ms / max(expected, MIN_TRANSFER_MS)
        way = 1 if ratio > 1 + self.step else -1 if ratio < 1 / (1 + self.step) else 0
        if not way or (self._off and self._off[-1] != way):
            self._off.clear()
        if way:
            self._off.append(way)
        return len(self._off) >= self.step_after

    def _identified(self, seen: list[tuple[int, float]], ms_per_byte: float, rtt: float) -> bool:
        """Whether the fitted transfer times stand out of the fit's noise: the transfer
        difference between the window's largest and smallest request is at least
        ``min_signal`` x the residuals' robust spread (MAD, scaled to a standard
        deviation). Noise-free timings always pass."""
        residuals = [n - rtt - ms_per_byte * b for b, n in seen]
        centre = statistics.median(residuals)
        noise = 1.4826 * statistics.median(abs(r - centre) for r in residuals)
        signal = ms_per_byte * (max(b for b, _ in seen) - min(b for b, _ in seen))
        return signal >= self.min_signal * noise

    def _rtt_at_known_rate(self, seen: list[tuple[int, float]]) -> float:
        """The window's RTT with the rate held at its estimate: the median of what is left
        of each request's time after its transfer at that rate."""
        bps = self._bps or float("inf")
        return max(statistics.median(n - 8e3 * b / bps for b, n in seen), 0.0)

    def _ewma(self, old: float, new: float) -> float:
        return old + self.alpha * (new - old)

    def _fit(self) -> tuple[float | None, float | None, str]:
        """(RTT ms, uplink bit/s, basis) of the window, each None when not identified."""
        seen = list(self._seen)
        slopes = [
            (n2 - n1) / (b2 - b1)
            for (b1, n1), (b2, n2) in itertools.combinations(seen, 2)
            if min(b1, b2) > 0 and max(b1, b2) >= self.min_spread * min(b1, b2)
        ]
        ms_per_byte = statistics.median(slopes) if len(slopes) >= 3 else 0.0
        if ms_per_byte > 0:
            raw = statistics.median(n - ms_per_byte * b for b, n in seen)
            # a fit that needs a negative RTT is a drop-out's request among normal ones
            # (the slope is the drop-out's), not a link: not believed
            if self._bps is not None and (raw < 0 or not self._identified(seen, ms_per_byte, raw)):
                # the sizes differ, but their transfers drown in the timings' noise (500 B
                # vs 20 B at 5 Mbit/s: 0.8 ms against an RTT that jitters by more), or the
                # fit is not credible: keep the rate and read the RTT
                rtt = self._rtt_at_known_rate(seen)
                self._known_rtt = rtt
                return rtt, None, "rate-held"
            if raw >= 0:
                self._known_rtt = raw
                return raw, 8e3 / ms_per_byte, "fit"
        if self._known_rtt is not None and self._bps is not None:
            transfer = [8e3 * b / self._bps for b, _ in seen]  # ms at the known rate
            typical = statistics.median(transfer)
            if typical < self.min_share * (self._known_rtt + typical):
                # equal sizes cannot tell a slower link from a longer RTT; with transfers
                # this short at the known rate, a change in the timings is the RTT's
                # (reading it as the rate would take 500 B from 5 to 0.1 Mbit/s when 4G's
                # RTT is 45 ms over Wi-Fi's)
                return self._rtt_at_known_rate(seen), None, "rate-held"
        if self._known_rtt is not None:
            rtt = self._known_rtt
            rates = [
                8e3 * b / max(n - rtt, MIN_TRANSFER_MS) for b, n in seen if b > 0
            ]  # bit/s of each request's transfer
            return rtt, statistics.median(rates) if rates else None, "rtt-held"
        return statistics.median(n for _, n in seen), None, "latency-only"


def work_kind(choice: str) -> str:
    """What a choice's device work is: ``"image"`` (cloud-only: the input's encoding) or
    ``"network"`` (split: head, unit and codec; mobile-only: the whole network)."""
    return "image" if choice.split("@", 1)[0] == "cloud-only" else "network"


class DeviceTimes:
    """Measured device work per choice, to correct the model's device times in re-planning.

    The planner prices each choice's device work (head + encode; the whole model for
    mobile-only; the image's encoding for cloud-only) from a device profile. A real (or
    emulated) device can be slower or faster than its profile says: 153 ms measured where
    the phone profile predicted 82 ms on the commute trace. The runner feeds the device
    work it measures for each choice it runs (:meth:`observe`); the re-planner's costs
    then use (:meth:`corrected`):

    - a choice's own median over its last ``window`` runs, once it has ``min_runs``;
    - else, once ``min_runs`` runs of its kind were seen, the modeled time scaled by the
      median measured/modeled ratio of the choices of the same kind that were run
      (:func:`work_kind`: the network's layers, for split and mobile-only; the image's
      encoding, for cloud-only): one CPU quota slows all the layers alike, so a choice
      never run is not priced at the profile's optimism.
      Kinds are kept apart because the model's figure for one kind is no guide to the
      other's error: on the 1 GFLOP/s phone the PNG took 5x its modeled time where the
      whole network took 1.3x, and pricing mobile-only at 5x kept it from ever running;
    - else the model's time.

    Medians of at least ``min_runs``: one slow request (a GC pause; on an emulated slow
    device, the upper tail of a block's time) does not set a price. On the 1 GFLOP/s
    phone one mobile-only run of 160 ms (its median 110) priced the device over 3G's
    cloud-only, and adaptive never left the network there.
    """

    def __init__(self, window: int = 5, min_runs: int = 2) -> None:
        if window < 1 or not 1 <= min_runs <= window:
            raise BadInput(f"window must be >= 1 and min_runs in 1..window: {window}, {min_runs}")
        self.window, self.min_runs = window, min_runs
        self._runs: dict[str, deque[float]] = {}
        self._ratios: dict[str, deque[float]] = {}  # measured / modeled, per work kind
        #: the model's device time of each choice, as the last costs were computed
        self.modeled: dict[str, float] = {}
        self._priced: dict[str, float] = {}  # what each choice was last priced at
        self._count: dict[str, int] = {}  # runs observed per choice, all of them

    def observe(self, choice: str, measured_ms: float, threshold: float = 0.25) -> bool:
        """One run of ``choice`` took ``measured_ms`` of device work. True when the time
        ``choice`` would now be priced at moved by more than ``threshold`` (relative) from
        the last price: worth planning again."""
        if not measured_ms >= 0:
            raise BadInput(f"measured_ms must be >= 0, got {measured_ms}")
        self._runs.setdefault(choice, deque(maxlen=self.window)).append(float(measured_ms))
        self._count[choice] = self._count.get(choice, 0) + 1
        modeled = self.modeled.get(choice)
        if modeled is not None and modeled > 0:
            kind = work_kind(choice)
            ratios = self._ratios.setdefault(kind, deque(maxlen=4 * self.window))
            ratios.append(float(measured_ms) / modeled)
        old = self._priced.get(choice)
        if old is None or modeled is None:
            return False
        new = self._price(choice, modeled)
        return abs(new - old) > threshold * max(old, 1e-9)

    def corrected(self, choice: str, modeled_ms: float) -> float:
        """The device time to price ``choice`` at (see the class docstring)."""
        self.modeled[choice] = modeled_ms
        self._priced[choice] = self._price(choice, modeled_ms)
        return self._priced[choice]

    def _price(self, choice: str, modeled_ms: float) -> float:
        runs = self._runs.get(choice)
        if runs is not None and len(runs) >= self.min_runs:
            return statistics.median(runs)
        ratios = self._ratios.get(work_kind(choice))
        if ratios is not None and len(ratios) >= self.min_runs:
            return modeled_ms * statistics.median(ratios)
        return modeled_ms

    def ratio(self, kind: str = "network") -> float | None:
        """Median measured / modeled device time of ``kind``'s runs (None before any)."""
        ratios = self._ratios.get(kind)
        return statistics.median(ratios) if ratios else None

    def to_json(self) -> dict[str, Any]:
        return {
            "ratio": {k: round(statistics.median(v), 4) for k, v in sorted(self._ratios.items())},
            "median_ms": {c: round(statistics.median(r), 3) for c, r in self._runs.items()},
            "runs": dict(self._count),
        }
