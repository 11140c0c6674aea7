"""Timers precise enough for a delay line: microsecond wake-ups and lateness compensation.

asyncio's default loop on Linux waits in ``epoll_wait``, whose timeout is whole
milliseconds: Python rounds every sleep *up* to the next millisecond, so a delay line on
it releases up to 1 ms late per direction. ``select()`` takes microseconds; the loops the
shaper creates itself (``LinkShaper.running()``, ``splitinfer link``) use it. What is
left is the wake-up latency of the machine (~0.1-0.3 ms, more under load), which
:class:`TimerLateness` learns and the delay line subtracts.
"""

from __future__ import annotations

import asyncio
import selectors

#: The most a chunk is ever released before its due time (see :class:`TimerLateness`).
MAX_EARLY_S = 0.001


class TimerLateness:
    """How late this event loop wakes from a sleep, learned online; delay lines wake early
    by that much, so releases are centred on their due times instead of trailing them.

    Measured on our 2-core CI machine under load (load average ~4): wake-ups from a
    ``select()`` loop come 0.2-0.25 ms late (median), whatever the sleep; from an epoll
    loop 0.1-0.2 ms *plus* the rounding up to a whole millisecond, which waking early
    cannot undo when the delay is itself whole milliseconds. The estimate is an
    exponentially weighted mean of the observed lateness, each sample clipped to
    ``2 * max_s``; it is capped at ``max_s``, which bounds how early any chunk can leave.
    """

    def __init__(self, initial_s: float = 0.0002, max_s: float = MAX_EARLY_S) -> None:
        self.max_s = max_s
        self._mean = min(initial_s, max_s)

    @property
    def early_s(self) -> float:
        """How long before a due time to wake up."""
        return min(self._mean, self.max_s)

    def observe(self, late_s: float, weight: float = 0.05) -> None:
        """Record that a sleep ended ``late_s`` seconds after it was meant to."""
        sample = min(max(late_s, 0.0), 2 * self.max_s)
        self._mean += weight * (sample - self._mean)


def precise_event_loop() -> asyncio.AbstractEventLoop:
    """A new event loop whose timers have microsecond resolution (``select()``-based).

    ``select()`` handles file descriptors below ``FD_SETSIZE`` (1024) only: a process
    with more open files should use a default loop (``precise_timers=False``).
    """
    return asyncio.SelectorEventLoop(selectors.SelectSelector())
