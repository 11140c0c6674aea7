"""The token bucket and the delay line on their own: exact rates on a virtual clock."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from splitinfer.net.bucket import TokenBucket
from splitinfer.net.delayline import DelayLine, End
from splitinfer.net.timing import MAX_EARLY_S, TimerLateness


def test_rate_is_exact_after_the_burst() -> None:
    bucket = TokenBucket(rate=1000.0, burst=100, now=0.0)
    release = [bucket.release_time(50, now=0.0) for _ in range(100)]  # 5000 B at once
    assert release[0] == 0.0 and release[1] == 0.0  # the first 100 B are the burst
    assert release[-1] == pytest.approx((5000 - 100) / 1000)
    assert release == sorted(release)


def test_idle_refills_only_up_to_the_burst() -> None:
    bucket = TokenBucket(rate=1000.0, burst=100, now=0.0)
    bucket.release_time(100, now=0.0)
    assert bucket.release_time(100, now=10.0) == 10.0  # refilled, but only to 100
    assert bucket.release_time(100, now=10.0) == pytest.approx(10.1)


def test_chunk_larger_than_burst_leaves_whole_when_paid_for() -> None:
    bucket = TokenBucket(rate=1000.0, burst=100, now=0.0)
    assert bucket.release_time(1100, now=0.0) == pytest.approx(1.0)
    assert bucket.busy_until == pytest.approx(1.0)


def test_late_arrival_does_not_borrow_from_the_past() -> None:
    bucket = TokenBucket(rate=1000.0, burst=100, now=0.0)
    bucket.release_time(1100, now=0.0)
    assert bucket.release_time(200, now=5.0) == pytest.approx(5.1)


def test_unlimited_rate_releases_at_arrival() -> None:
    bucket = TokenBucket(rate=math.inf, burst=1, now=0.0)
    assert bucket.release_time(10**9, now=3.0) == 3.0


def test_delay_line_releases_in_parallel_not_in_series() -> None:
    """50 chunks each delayed 50 ms all arrive ~50 ms later, not 50 x 50 ms later."""

    async def run() -> tuple[float, list[bytes | End]]:
        line = DelayLine()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for i in range(50):
            line.put(t0 + 0.050 + i * 1e-4, bytes([i]))
        line.put(t0 + 0.050, End.EOF)  # never earlier than the tail
        out = [await line.get() for _ in range(51)]
        return loop.time() - t0, out

    start = time.perf_counter()
    elapsed, out = asyncio.run(run())
    assert out[-1] is End.EOF and out[:-1] == [bytes([i]) for i in range(50)]
    assert elapsed >= 0.050 + 49e-4 - MAX_EARLY_S
    assert time.perf_counter() - start < 1.0  # in series it would take 2.5 s


def test_delay_line_counts_bytes_and_applies_back_pressure() -> None:
    async def run() -> None:
        line = DelayLine()
        now = asyncio.get_running_loop().time()
        line.put(now, b"x" * 1000)
        line.put(now, b"y" * 1000)
        assert line.nbytes == 2000
        waiter = asyncio.ensure_future(line.wait_for_room(1000))
        await asyncio.sleep(0)
        assert not waiter.done()
        assert await line.get() == b"x" * 1000
        await asyncio.wait_for(waiter, 1.0)
        assert line.nbytes == 1000

    asyncio.run(run())


def test_timer_lateness_estimate_follows_samples_and_is_capped() -> None:
    est = TimerLateness(initial_s=0.0005, max_s=0.001)
    for _ in range(200):
        est.observe(0.0008)
    assert est.early_s == pytest.approx(0.0008, rel=0.01)
    for _ in range(200):
        est.observe(0.5)  # a stalled machine: clipped, and never more than max_s early
    assert est.early_s == 0.001
    for _ in range(500):
        est.observe(-1.0)  # woke early (cannot happen with asyncio, but stays sane)
    assert est.early_s == pytest.approx(0.0, abs=1e-6)
