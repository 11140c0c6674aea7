"""One direction of a shaped connection: source -> token bucket -> delay line -> destination.

Two tasks per direction: the *feeder* reads from the source, books each chunk on the token
bucket (release time, virtual clock) and queues it on the delay line at
``release + one_way_delay``; the *releaser* writes each chunk when it comes due. The
feeder stays at most ``lookahead`` ahead of the bucket, so a fast sender is held back by
TCP flow control as on a real link, and the bucket never idles waiting for a late wake-up.
"""

from __future__ import annotations

import asyncio
import math

from splitinfer.net.bucket import TokenBucket
from splitinfer.net.delayline import DelayLine, End
from splitinfer.net.stats import DirectionStats
from splitinfer.net.timing import TimerLateness

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
    ) -> None:
        self.src, self.dst, self.stats = src, dst, stats
        self.delay_s = delay_s
        self.rate = rate
        self.bucket = TokenBucket(rate, burst, asyncio.get_running_loop().time())
        self.line = DelayLine(lateness)
        self.chunk = (
            MAX_CHUNK if math.isinf(rate) else int(_clamp(rate * CHUNK_S, MIN_CHUNK, MAX_CHUNK))
        )
        in_flight = rate * (delay_s + LOOKAHEAD_S) + 2 * self.chunk
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
                data = await self.src.read(self.chunk)
            except _NET_ERRORS:
                self._end(End.RESET, loop.time())
                return
            now = loop.time()
            if not data:
                self._end(End.EOF, now)
                return
            self.stats.read += len(data)
            release = self.bucket.release_time(len(data), now)
            self.line.put(release + self.delay_s, data)
            ahead = release - LOOKAHEAD_S - loop.time()
            if ahead > 0:
                await asyncio.sleep(ahead)
            await self.line.wait_for_room(self.max_buffer)

    def _end(self, marker: End, now: float) -> None:
        self.source_done = True
        self.line.put(max(now, self.bucket.busy_until) + self.delay_s, marker)

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


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))
