"""LinkShaper: a user-space TCP proxy that imposes a link's bandwidth and round-trip time.

::

    client ─► listen ─[up:   token bucket(up_mbps)   ─► delay rtt/2]─► upstream
    client ◄─ listen ◄[down: token bucket(down_mbps) ◄─ delay rtt/2]── upstream

Every accepted connection gets its own upstream connection and, per direction, its own
token bucket and delay line (:mod:`splitinfer.net.connection`), so measured latency is
real: a request/response exchange gains ``rtt_ms`` plus the time its bytes take at the
set rates. TCP is terminated at the proxy on both sides (split TCP): the emulator imposes
rate and propagation delay, not the sender's congestion control over a long-RTT path.

    shaper = LinkShaper.from_profile("4g", listen=("127.0.0.1", 0), upstream=("127.0.0.1", 8000))
    with shaper.running() as port:        # a background thread with its own event loop
        ...  # connect to 127.0.0.1:port
    async with shaper:                    # or inside a running event loop
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType

from splitinfer.net.address import Address, format_address, parse_address
from splitinfer.net.connection import peer_name, proxy_connection, reset
from splitinfer.net.errors import BadLinkSettings, ShaperError
from splitinfer.net.settings import DEFAULT_BURST_BYTES, LinkSettings
from splitinfer.net.stats import ConnectionStats
from splitinfer.net.timing import TimerLateness, precise_event_loop
from splitinfer.plan.profiles import LinkProfile

log = logging.getLogger("splitinfer.net")

#: Closed connections remembered for :attr:`LinkShaper.connections` (oldest dropped first).
KEEP_CLOSED = 1024


class LinkShaper:
    """Proxy ``listen`` -> ``upstream`` through an emulated link (see the module docstring).

    Addresses are ``(host, port)`` or ``"host:port"``; listen port 0 picks a free port
    (read it from :attr:`address` or from ``running()``). Rates are payload Mbps
    (``math.inf``: unlimited), ``rtt_ms`` is split evenly between the two directions.
    Bad values raise :class:`~splitinfer.errors.BadInput` subclasses.

    Buckets are per connection: parallel connections each get the full rate (a real link
    would share it), which is what one edge client with one connection needs.
    """

    def __init__(
        self,
        listen: Address | str,
        upstream: Address | str,
        up_mbps: float,
        down_mbps: float,
        rtt_ms: float,
        burst_bytes: int = DEFAULT_BURST_BYTES,
        *,
        name: str = "custom",
        connect_timeout_s: float = 5.0,
        loss: float = 0.0,
        trace: str | None = None,
        down_trace: str | None = None,
        seed: int | None = None,
    ) -> None:
        self.settings = LinkSettings(
            up_mbps, down_mbps, rtt_ms, burst_bytes, name, loss, trace, down_trace
        )
        #: The schedule followed (a trace, or fixed rates with loss); None: fixed, no loss.
        self.schedule = self.settings.schedule()  # reads the trace: BadTrace now, not later
        self._rng = random.Random(seed)
        self._origin: float | None = None
        self._started_wall: float | None = None
        self.listen = parse_address(listen)
        self.upstream = parse_address(upstream)
        if not isinstance(connect_timeout_s, int | float) or not connect_timeout_s > 0:
            raise BadLinkSettings(f"connect_timeout_s must be > 0, got {connect_timeout_s!r}")
        self.connect_timeout_s = float(connect_timeout_s)
        self._server: asyncio.Server | None = None
        self._address: Address | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._open: dict[int, ConnectionStats] = {}
        self._closed: deque[ConnectionStats] = deque(maxlen=KEEP_CLOSED)
        self._stats_lock = threading.Lock()  # connections is read from other threads
        self._lateness = TimerLateness()  # learned on this shaper's event loop
        self._next_id = 0

    @classmethod
    def from_settings(
        cls, settings: LinkSettings, listen: Address | str, upstream: Address | str,
        *, connect_timeout_s: float = 5.0, seed: int | None = None,
    ) -> LinkShaper:  # fmt: skip
        """A shaper for already-validated :class:`LinkSettings` (``seed``: the loss model's)."""
        s = settings
        return cls(
            listen, upstream, s.up_mbps, s.down_mbps, s.rtt_ms, s.burst_bytes,
            name=s.name, connect_timeout_s=connect_timeout_s, loss=s.loss, trace=s.trace,
            down_trace=s.down_trace, seed=seed,
        )  # fmt: skip

    @classmethod
    def from_profile(
        cls,
        profile: str | LinkProfile,
        listen: Address | str,
        upstream: Address | str,
        *,
        up_mbps: float | None = None,
        down_mbps: float | None = None,
        rtt_ms: float | None = None,
        burst_bytes: int = DEFAULT_BURST_BYTES,
        connect_timeout_s: float = 5.0,
        loss: float = 0.0,
        trace: str | None = None,
        down_trace: str | None = None,
        seed: int | None = None,
    ) -> LinkShaper:
        """A shaper for a link profile of :mod:`splitinfer.plan.profiles` (``"4g"``,
        ``"wifi"``, ``"custom:up=2,down=10,rtt=80"``), with optional overrides; a
        ``trace`` file (CSV, or Mahimahi for the uplink) makes the link follow it."""
        settings = LinkSettings.from_profile(
            profile, up_mbps=up_mbps, down_mbps=down_mbps, rtt_ms=rtt_ms, burst_bytes=burst_bytes,
            loss=loss, trace=trace, down_trace=down_trace,
        )  # fmt: skip
        return cls.from_settings(
            settings, listen, upstream, connect_timeout_s=connect_timeout_s, seed=seed
        )

    # --- state ----------------------------------------------------------------------------

    @property
    def address(self) -> Address:
        """The bound ``(host, port)``; raises :class:`ShaperError` before :meth:`start`."""
        if self._address is None:
            raise ShaperError("the link shaper is not running: call start() or use running()")
        return self._address

    @property
    def connections(self) -> list[ConnectionStats]:
        """Live counters of the open connections and of the last closed ones, oldest first.

        Safe to call from any thread (e.g. while :meth:`running` serves in the background).
        """
        with self._stats_lock:
            return sorted([*self._closed, *self._open.values()], key=lambda c: c.id)

    def trace_time(self) -> float | None:
        """Seconds since the trace clock started (at :meth:`start`); None before."""
        if self._started_wall is None:
            return None
        return time.time() - self._started_wall

    def describe(self) -> str:
        """Settings and addresses in one line."""
        where = format_address(self._address or self.listen)
        return f"{self.settings.describe()}; {where} -> {format_address(self.upstream)}"

    # --- asyncio life cycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Bind the listen address and start accepting; raises :class:`ShaperError`."""
        if self._server is not None:
            raise ShaperError("the link shaper is already running")
        host, port = self.listen
        try:
            self._server = await asyncio.start_server(self._handle, host, port)
        except OSError as err:
            raise ShaperError(
                f"cannot listen on {format_address(self.listen)}: {err.strerror or err}; "
                "is the port in use? (port 0 picks a free one)"
            ) from None
        self._address = self._server.sockets[0].getsockname()[:2]
        self._origin = asyncio.get_running_loop().time()
        self._started_wall = time.time()
        log.info("link %s", self.describe())

    async def stop(self) -> None:
        """Stop accepting, cut the open connections, release the port."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await server.wait_closed()
        self._address = None
        self._origin = self._started_wall = None

    async def __aenter__(self) -> LinkShaper:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        await self.stop()

    async def serve_until_signal(
        self,
        signals: Iterable[signal.Signals] = (signal.SIGINT, signal.SIGTERM),
        on_started: Callable[[], None] | None = None,
    ) -> None:
        """Run until one of ``signals`` arrives (the command line's main loop)."""
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        await self.start()
        try:
            for sig in signals:
                loop.add_signal_handler(sig, stopped.set)
            if on_started is not None:
                on_started()
            await stopped.wait()
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
            await self.stop()

    def run_until_signal(
        self, on_started: Callable[[], None] | None = None, precise_timers: bool = True
    ) -> None:
        """Blocking form of :meth:`serve_until_signal` on a new event loop (the CLI's)."""
        loop = precise_event_loop() if precise_timers else asyncio.new_event_loop()
        try:
            loop.run_until_complete(self.serve_until_signal(on_started=on_started))
        finally:
            loop.close()

    # --- a background thread --------------------------------------------------------------

    @contextlib.contextmanager
    def running(self, timeout_s: float = 10.0, precise_timers: bool = True) -> Iterator[int]:
        """Run in a background thread with its own event loop; yields the bound port.

        ``precise_timers`` picks a ``select()`` loop with microsecond timers
        (:func:`~splitinfer.net.timing.precise_event_loop`); pass ``False`` in a process
        with over ~1000 open files.
        """
        loop = precise_event_loop() if precise_timers else asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as err:  # handed to the caller's thread below
                failure.append(err)
            ready.set()
            if not failure:
                loop.run_forever()
            loop.close()

        thread = threading.Thread(target=main, name="splitinfer-link", daemon=True)
        thread.start()
        ready.wait(timeout_s)
        if failure or not ready.is_set():
            thread.join(timeout_s)
            raise failure[0] if failure else ShaperError("the link shaper did not start in time")
        try:
            yield self.address[1]
        finally:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout_s)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout_s)

    # --- one connection -------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._next_id += 1
        peer = writer.get_extra_info("peername")
        stats = ConnectionStats(self._next_id, peer_name(peer), opened_at=time.time())
        with self._stats_lock:
            self._open[stats.id] = stats
        log.info("conn %d from %s", stats.id, stats.peer)
        try:
            await proxy_connection(
                reader, writer, self.upstream, self.settings, stats,
                connect_timeout_s=self.connect_timeout_s, lateness=self._lateness,
                schedule=self.schedule, origin=self._origin or 0.0, rng=self._rng,
            )  # fmt: skip
        except asyncio.CancelledError:
            # stop() cancels the connection tasks; not re-raised, because asyncio's stream
            # server (3.10/3.11) logs a cancelled client_connected_cb task as an error.
            stats.error = stats.error or "shaper stopped"
            reset(writer)
        finally:
            writer.close()
            stats.closed_at = time.time()
            with self._stats_lock:
                self._closed.append(self._open.pop(stats.id))
            if task is not None:
                self._tasks.discard(task)
            log.info("%s", stats.summary())
