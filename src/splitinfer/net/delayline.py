"""A delay line: timestamped chunks, each released at its own due time.

Chunks queue up with ``due = release + one_way_delay`` and one consumer releases them in
order, sleeping only until the head is due. Many chunks are in flight at once, so the
delay is added once per byte, not once per chunk in series (which would divide the rate).
"""

from __future__ import annotations

import asyncio
from collections import deque
from enum import Enum

from splitinfer.net.timing import TimerLateness


class End(Enum):
    """Markers that end a direction: the source closed (``EOF``) or was reset (``RESET``)."""

    EOF = "eof"
    RESET = "reset"


Item = bytes | End


class DelayLine:
    """FIFO of ``(due, chunk)`` with non-decreasing due times, bounded by the producer."""

    def __init__(self, lateness: TimerLateness | None = None) -> None:
        self._items: deque[tuple[float, Item]] = deque()
        self._nbytes = 0
        self.lateness = lateness or TimerLateness()
        self._added = asyncio.Event()
        self._taken = asyncio.Event()

    @property
    def nbytes(self) -> int:
        """Bytes queued and not yet released."""
        return self._nbytes

    def put(self, due: float, item: Item) -> None:
        """Queue ``item`` for release at loop time ``due`` (never before the current tail)."""
        if self._items:
            due = max(due, self._items[-1][0])
        self._items.append((due, item))
        if isinstance(item, bytes):
            self._nbytes += len(item)
        self._added.set()

    async def wait_for_room(self, limit: int) -> None:
        """Wait until at most ``limit`` bytes are queued (back-pressure on the producer)."""
        while self._nbytes > limit:
            self._taken.clear()
            await self._taken.wait()

    async def get(self) -> Item:
        """Wait for the head chunk to come due, remove and return it."""
        while not self._items:
            self._added.clear()
            await self._added.wait()
        due, item = self._items[0]
        loop = asyncio.get_running_loop()
        wake = due - self.lateness.early_s
        wait = wake - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
            self.lateness.observe(loop.time() - wake)
        self._items.popleft()
        if isinstance(item, bytes):
            self._nbytes -= len(item)
        self._taken.set()
        return item
