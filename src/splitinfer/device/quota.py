"""The CPU share that makes this host run like a device profile: pure arithmetic.

A device profile gives its speed either as ``gflops`` (effective GFLOP/s on CNN inference)
or as ``speed`` (x this host). The host's speed is measured (:mod:`splitinfer.device.probe`:
GFLOP/s of one thread on the model that will run, per CPU second). The share of one host
core that emulates the device is then::

    share = device GFLOP/s / host GFLOP/s      (gflops profiles)
    share = speed                              (host-relative profiles)

and the cgroup gets ``quota_us / period_us = share``. The edge work runs on ONE thread
(torch intra-op threads set to 1), and the quota is in CPU time, so a thread that ran in
parallel would only use the same budget up faster. A share >= 1 means the device is faster
than one host core: it is CAPPED at one core (no quota; the run is at host single-core speed
and is labelled capped), never refused, because a single-threaded edge cannot use more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from splitinfer.errors import BadInput

#: the kernel refuses a CFS quota under 1 ms, and a period over 1 s
MIN_QUOTA_US = 1_000
MAX_PERIOD_US = 1_000_000
#: short periods spread the throttling finely (a request of a few ms sees the average
#: rate, not one burst at host speed and then a long stall)
DEFAULT_PERIOD_US = 10_000


@dataclass(frozen=True)
class Quota:
    """A CFS bandwidth limit: ``quota_us`` of CPU time per ``period_us``, or none (capped)."""

    share: float  # the share wanted: device speed / host speed (may be >= 1)
    quota_us: int | None  # None: capped, no limit
    period_us: int

    @property
    def capped(self) -> bool:
        return self.quota_us is None

    @property
    def effective(self) -> float:
        """The share the cgroup gets (1.0 when capped)."""
        return 1.0 if self.quota_us is None else self.quota_us / self.period_us

    def describe(self) -> str:
        if self.quota_us is None:
            return (
                f"capped: the device is {self.share:.2f}x one host core, faster than one "
                "core, so it runs at host single-core speed"
            )
        return (
            f"quota {self.quota_us}/{self.period_us} us = {100 * self.effective:.1f}% "
            "of one host core"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "share": self.share, "quota_us": self.quota_us, "period_us": self.period_us,
            "effective_share": self.effective, "capped": self.capped,
        }  # fmt: skip


def share_for(device_gflops: float | None, speed: float | None, host_gflops: float | None) -> float:
    """The share of one host core that runs like the device (see the module docstring)."""
    if speed is not None:
        if not speed > 0:
            raise BadInput(f"device speed must be > 0, got {speed!r}")
        return speed
    if device_gflops is None or not device_gflops > 0:
        raise BadInput(f"device needs gflops > 0 or speed > 0, got gflops={device_gflops!r}")
    if host_gflops is None or not host_gflops > 0 or math.isinf(host_gflops):
        raise BadInput(f"host speed must be a measured GFLOP/s > 0, got {host_gflops!r}")
    return device_gflops / host_gflops


def quota_for(share: float, period_us: int = DEFAULT_PERIOD_US) -> Quota:
    """The cgroup limit for ``share``: capped at one core, the period lengthened when the
    quota would fall under the kernel's 1 ms minimum; a share too small even at a 1 s
    period is refused."""
    if not share > 0 or math.isinf(share):
        raise BadInput(f"a CPU share must be a finite number > 0, got {share!r}")
    if not MIN_QUOTA_US <= period_us <= MAX_PERIOD_US:
        raise BadInput(f"period must be {MIN_QUOTA_US}..{MAX_PERIOD_US} us, got {period_us}")
    if share >= 1.0:
        return Quota(share, None, period_us)
    smallest = MIN_QUOTA_US / MAX_PERIOD_US
    if share < smallest:
        raise BadInput(
            f"the device is {1 / share:.0f}x slower than this host: under the smallest "
            f"CPU share a cgroup gives ({100 * smallest:g}%); use a faster profile"
        )
    period = max(period_us, math.ceil(MIN_QUOTA_US / share))
    period = min(period, MAX_PERIOD_US)
    quota = max(MIN_QUOTA_US, round(share * period))
    return Quota(share, quota, period)


#: one calibration step moves the share by at most this factor either way
MAX_CORRECTION = 2.0


def corrected_share(share: float, measured_ms: float, target_ms: float) -> float:
    """The share after one feedback step: the work took ``measured_ms`` under ``share``
    and should take ``target_ms``, so scale by measured / target (within
    :data:`MAX_CORRECTION` either way; a host that is busier than the probe saw gets more)."""
    if not (share > 0 and measured_ms > 0 and target_ms > 0):
        raise BadInput(
            f"share, measured and target must be > 0, got {share}, {measured_ms}, {target_ms}"
        )
    factor = min(max(measured_ms / target_ms, 1 / MAX_CORRECTION), MAX_CORRECTION)
    return share * factor
