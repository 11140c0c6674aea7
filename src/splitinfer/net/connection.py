"""One proxied connection: connect upstream, shape both directions, end it cleanly.

Ends: both directions passed their EOF (clean close); a direction failed (a reset or a
write error: what is already in flight the other way is delivered if that side had
finished sending, then both sides are reset); upstream unreachable (the client is
closed at once, the reason kept in the stats and logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import struct

from splitinfer.net.address import Address, format_address
from splitinfer.net.direction import Direction
from splitinfer.net.settings import LinkSettings
from splitinfer.net.stats import ConnectionStats
from splitinfer.net.timing import TimerLateness
from splitinfer.net.trace import LinkTrace

log = logging.getLogger("splitinfer.net")


async def proxy_connection(
    client_r: asyncio.StreamReader,
    client_w: asyncio.StreamWriter,
    upstream: Address,
    settings: LinkSettings,
    stats: ConnectionStats,
    *,
    connect_timeout_s: float,
    lateness: TimerLateness | None = None,
    schedule: LinkTrace | None = None,
    origin: float = 0.0,
    rng: random.Random | None = None,
) -> None:
    """Proxy one accepted client connection to ``upstream`` through the emulated link.

    With a ``schedule`` both directions follow it, on a clock that starts at loop time
    ``origin``. Returns when the connection is over; the caller closes ``client_w``.
    """
    try:
        up_r, up_w = await asyncio.wait_for(asyncio.open_connection(*upstream), connect_timeout_s)
    except (OSError, asyncio.TimeoutError) as err:
        stats.error = f"upstream {format_address(upstream)} unreachable: {_why(err)}"
        log.warning("conn %d: %s; closing the client connection", stats.id, stats.error)
        return
    s, delay = settings, settings.one_way_delay_s
    if schedule is None:
        up = Direction(client_r, up_w, s.up_bytes_per_s, s.burst_bytes, delay, stats.up, lateness)
        down = Direction(
            up_r, client_w, s.down_bytes_per_s, s.burst_bytes, delay, stats.down, lateness
        )
    else:
        delay = max(schedule.up.rtt_ms.max, schedule.down.rtt_ms.max) / 2000.0
        pairs = (
            (client_r, up_w, stats.up, schedule.up),
            (up_r, client_w, stats.down, schedule.down),
        )
        up, down = (
            Direction(
                r, w, 1.0, s.burst_bytes, delay, st, lateness, schedule=x, origin=origin, rng=rng
            )
            for r, w, st, x in pairs
        )
    tasks = {asyncio.ensure_future(d.run()): d for d in (up, down)}
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        failed = [t.exception() for t in done if t.exception() is not None]
        if failed:
            stats.error = _why(failed[0])
            # A direction whose source already ended only flushes its delay line:
            # let it deliver (e.g. a reply sent just before the server closed).
            flushing = {t for t in pending if tasks[t].source_done}
            if flushing:
                await asyncio.wait(flushing, timeout=delay + 1.0)
            reset(client_w)
            reset(up_w)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        up_w.close()


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (SO_LINGER 0) so the peer sees the error, not a clean EOF."""
    if writer.transport.is_closing():
        return
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def peer_name(peer: object) -> str:
    """``host:port`` of a socket's peer address, for logs and stats."""
    if isinstance(peer, tuple) and len(peer) >= 2:
        return format_address((str(peer[0]), int(peer[1])))
    return str(peer)


def _why(err: BaseException | None) -> str:
    if isinstance(err, asyncio.TimeoutError):
        return "timed out"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return f"{type(err).__name__}: {err}" if err is not None else "unknown"
