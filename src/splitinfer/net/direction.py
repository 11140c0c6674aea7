"""One direction of a shaped connection: source -> token bucket -> delay line -> destination.

Two tasks per direction: the *feeder* reads from the source, books each chunk on the token
bucket (release time, virtual clock) and queues it on the delay line at
``release + one_way_delay``; the *releaser* writes each chunk when it comes due. The
feeder stays at most ``lookahead`` ahead of the bucket, so a fast sender is held back by
TCP flow control as on a real link, and the bucket never idles waiting for a late wake-up.

With a trace (:mod:`splitinfer.net.trace`) the bucket follows the trace's capacity curve,
each chunk's one-way delay is half the RTT in force when it leaves the bucket, chunks are
sized from the rate in force when they are read, and lost segments cost what
:func:`~splitinfer.net.trace.loss_penalty` says: their bytes again, and one RTT.
"""

from __future__ import annotations

import asyncio
import math
import random

from splitinfer.net.bucket import TokenBucket, TraceBucket
from splitinfer.net.delayline import DelayLine, End
from splitinfer.net.stats import DirectionStats
from splitinfer.net.timing import TimerLateness
from splitinfer.net.trace import ConstantRate, DirectionSchedule, loss_penalty

#: How far (seconds) the feeder may read ahead of the bucket; covers timer jitter.
LOOKAHEAD_S = 0.010
#: Chunk size, in seconds at the link rate (clamped to 1..64 KiB): delivery granularity.
CHUNK_S = 0.004
MIN_CHUNK, MAX_CHUNK = 1024, 65536
#: Cap on bytes queued in the delay line when the destination does not read.
MIN_BUFFER, MAX_BUFFER = 256 * 1024, 64 * 1024 * 1024

_NET_ERRORS = (ConnectionError, OSError)


class Direction:
    """Shape the bytes ``src`` -> ``dst`` at ``rate`` bytes/s with ``delay_s`` one-way delay."""

    def __init__(
        self,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        rate: float,
        burst: int,
        delay_s: float,
        stats: DirectionStats,
        lateness: TimerLateness | None = None,
        *,
        schedule: DirectionSchedule | None = None,
        origin: float = 0.0,
        rng: random.Random | None = None,
    ) -> None:
        self.src, self.dst, self.stats = src, dst, stats
        self.delay_s = delay_s
        self.rate = rate
        self.schedule, self.origin = schedule, origin
        self.rng = rng or random.Random()
        now = asyncio.get_running_loop().time()
        self.bucket: TokenBucket | TraceBucket = TokenBucket(rate, burst, now)
        if schedule is not None:
            cap = schedule.capacity
            self.rate = cap.max_rate
            self.delay_s = schedule.rtt_ms.max / 2000.0
            if isinstance(cap, ConstantRate):
                self.bucket = TokenBucket(cap.rate, burst, now)
            else:
                self.bucket = TraceBucket(cap, burst, origin)
        self.line = DelayLine(lateness)
        self.chunk = _chunk_for(self.rate)
        in_flight = self.rate * (self.delay_s + LOOKAHEAD_S) + 2 * self.chunk
        self.max_buffer = int(_clamp(2 * in_flight, MIN_BUFFER, MAX_BUFFER))
        self.source_done = False  # EOF or error read: only the delay line is left to flush

    async def run(self) -> None:
        """Until the source's EOF has been passed on; raises on a write error."""
        feeder = asyncio.ensure_future(self._feed())
        try:
            await self._release()
        finally:
            feeder.cancel()
            await asyncio.gather(feeder, return_exceptions=True)

    async def _feed(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                data = await self.src.read(self._next_chunk(loop.time()))
            except _NET_ERRORS:
                self._end(End.RESET, loop.time())
                return
            now = loop.time()
            if not data:
                self._end(End.EOF, now)
                return
            self.stats.read += len(data)
            release = self.bucket.release_time(len(data), now)
            self.line.put(release + self._delay_after(release, len(data), now), data)
            ahead = release - LOOKAHEAD_S - loop.time()
            if ahead > 0:
                await asyncio.sleep(ahead)
            await self.line.wait_for_room(self.max_buffer)

    def _next_chunk(self, now: float) -> int:
        if self.schedule is None:
            return self.chunk
        return _chunk_for(self.schedule.capacity.rate_at(now - self.origin))

    def _one_way_s(self, at: float) -> float:
        if self.schedule is None:
            return self.delay_s
        return self.schedule.rtt_ms.at(at - self.origin) / 2000.0

    def _delay_after(self, release: float, nbytes: int, now: float) -> float:
        """One-way delay of a chunk leaving the bucket at ``release``, plus its losses."""
        if self.schedule is None:
            return self.delay_s
        t = release - self.origin
        rtt_s = self.schedule.rtt_ms.at(t) / 1000.0
        again, late_s = loss_penalty(nbytes, self.schedule.loss.at(t), rtt_s, self.rng)
        if again:
            self.stats.resent += again
            self.bucket.release_time(again, now)  # the lost segments cross the link again
        return rtt_s / 2 + late_s

    def _end(self, marker: End, now: float) -> None:
        self.source_done = True
        at = max(now, self.bucket.busy_until)
        self.line.put(at + self._one_way_s(at), marker)

    async def _release(self) -> None:
        while True:
            item = await self.line.get()
            if item is End.EOF:
                if self.dst.can_write_eof() and not self.dst.is_closing():
                    self.dst.write_eof()
                self.stats.eof = True
                return
            if item is End.RESET:
                raise ConnectionResetError("the source of this direction was reset")
            self.dst.write(item)
            self.stats.delivered += len(item)
            await self.dst.drain()


def _chunk_for(rate: float) -> int:
    """Chunk size: ``CHUNK_S`` seconds at ``rate`` bytes/s, clamped."""
    return MAX_CHUNK if math.isinf(rate) else int(_clamp(rate * CHUNK_S, MIN_CHUNK, MAX_CHUNK))


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))
