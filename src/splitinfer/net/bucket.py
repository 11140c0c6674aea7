"""A token bucket on a virtual clock: it answers *when* a chunk may leave, never sleeps.

Release times are computed from the bucket's own state, not from when the caller woke
up, so timer jitter in the caller does not accumulate into the rate: over any transfer
the bytes leave at exactly ``rate`` after the first ``burst`` bytes.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from splitinfer.net.trace import Capacity


class TokenBucket:
    """``rate`` bytes/s (``math.inf``: no limit), depth ``burst`` bytes, full at ``now``.

    A chunk larger than the tokens at hand waits until the missing tokens have accrued
    and then leaves whole: it is delivered when its last byte would have been sent.
    """

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._at = now

    @property
    def busy_until(self) -> float:
        """Release time of the last chunk booked (the link is serialising until then)."""
        return self._at

    def release_time(self, nbytes: int, now: float) -> float:
        """Book ``nbytes`` that arrived at ``now``; return when they leave the bucket.

        Release times are non-decreasing: a chunk never overtakes an earlier one.
        """
        if math.isinf(self.rate):
            self._at = max(self._at, now)
            return self._at
        t = max(now, self._at)
        tokens = min(self.burst, self._tokens + (t - self._at) * self.rate)
        if tokens >= nbytes:
            tokens -= nbytes
        else:
            t += (nbytes - tokens) / self.rate
            tokens = 0.0
        self._tokens, self._at = tokens, t
        return t


class TraceBucket:
    """A token bucket whose rate follows a trace's capacity curve ``C(t)``.

    ``origin`` is the loop time at which the trace starts. The link's position ``P`` is
    the capacity used so far; capacity left unused while idle is kept up to ``burst``
    bytes (``P >= C(now) - burst``), as in :class:`TokenBucket`, so with a constant
    curve both give the same release times. A chunk leaves at ``C⁻¹(P)``: during a
    drop-out (rate 0) it waits for the rate to come back.
    """

    def __init__(self, capacity: Capacity, burst: int, origin: float) -> None:
        self.capacity = capacity
        self.burst = float(burst)
        self.origin = origin
        self._used = capacity.bytes_by(0.0) - self.burst
        self._at = origin

    @property
    def busy_until(self) -> float:
        """Release time of the last chunk booked."""
        return self._at

    def release_time(self, nbytes: int, now: float) -> float:
        """Book ``nbytes`` that arrived at ``now``; return when they leave the bucket."""
        t = now - self.origin
        self._used = max(self._used, self.capacity.bytes_by(t) - self.burst) + nbytes
        release = max(now, self._at, self.origin + self.capacity.time_for(self._used))
        self._at = release
        return release
