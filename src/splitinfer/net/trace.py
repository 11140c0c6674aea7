"""Link traces: a time-varying schedule of rate, RTT and loss for the link emulator.

Two file formats (see docs/link-emulator.md):

- **Mahimahi** (``*.trace``, anything not ending in ``.csv``): one delivery opportunity
  per line, an integer millisecond timestamp, non-decreasing; each opportunity carries one
  1500-byte packet. The trace loops with a period of its last timestamp, as in Mahimahi's
  ``mm-link``. It sets a rate only: RTT and loss come from the link's fixed settings.
- **CSV** (``*.csv``): a header ``t_s,up_mbps,down_mbps,rtt_ms,loss`` then rows,
  piecewise constant from each row's ``t_s`` to the next; the first row at ``t_s = 0``,
  times strictly increasing. After the last row the link **holds** the last row's values
  (it does not loop). A rate of 0 is a drop-out; the last row's rates must be > 0.

A rate schedule is held as a *capacity curve* ``C(t)``: the bytes the link can carry from
the trace's start to ``t`` seconds. The bucket (:class:`~splitinfer.net.bucket.TraceBucket`)
books every chunk on it, so what leaves over any window is exactly what the trace allows::

    CSV row rates    ─► piecewise-linear C(t) ─┐
    Mahimahi stamps  ─► staircase C(t) (1500 B ─┴► TraceBucket: release = C⁻¹(bytes booked)
                        a step, looping)
"""

from __future__ import annotations

import bisect
import csv
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from splitinfer.net.errors import BadTrace

#: Bytes per Mahimahi delivery opportunity (one MTU-sized packet).
MAHIMAHI_PACKET = 1500
#: The CSV header, in order.
CSV_COLUMNS = ("t_s", "up_mbps", "down_mbps", "rtt_ms", "loss")
#: Segment size of the loss model: each segment is lost independently.
SEGMENT_BYTES = 1500


class Capacity(Protocol):
    """Bytes a direction may carry between the trace's start and a time (seconds)."""

    def bytes_by(self, t: float) -> float:
        """``C(t)``: capacity from 0 to ``t`` (non-decreasing in ``t``)."""
        ...

    def time_for(self, nbytes: float) -> float:
        """The earliest ``t >= 0`` with ``C(t) >= nbytes``."""
        ...

    def rate_at(self, t: float) -> float:
        """Bytes/s at ``t`` (for chunk sizing; a mean for a staircase)."""
        ...

    @property
    def max_rate(self) -> float:
        """The highest rate anywhere (bytes/s), for buffer sizing."""
        ...


class PiecewiseRate:
    """Piecewise-constant rate: ``rates[i]`` bytes/s from ``starts[i]``; the last holds."""

    def __init__(self, starts: list[float], rates: list[float]) -> None:
        self.starts, self.rates = starts, rates
        self.cum = [0.0]
        for i in range(1, len(starts)):
            self.cum.append(self.cum[-1] + rates[i - 1] * (starts[i] - starts[i - 1]))

    def _index(self, t: float) -> int:
        return max(0, bisect.bisect_right(self.starts, t) - 1)

    def bytes_by(self, t: float) -> float:
        if t <= 0:
            return 0.0
        i = self._index(t)
        return self.cum[i] + self.rates[i] * (t - self.starts[i])

    def time_for(self, nbytes: float) -> float:
        if nbytes <= 0:
            return 0.0
        j = bisect.bisect_left(self.cum, nbytes)  # first breakpoint with C >= nbytes
        i = j - 1  # segment i runs from cum[i] < nbytes; its rate is > 0 unless it is last
        return self.starts[i] + (nbytes - self.cum[i]) / self.rates[i]

    def rate_at(self, t: float) -> float:
        return self.rates[self._index(t)]

    @property
    def max_rate(self) -> float:
        return max(self.rates)


class Opportunities:
    """Mahimahi's staircase: ``packet`` bytes at each timestamp, looping every ``period``."""

    def __init__(self, stamps_s: list[float], packet: int = MAHIMAHI_PACKET) -> None:
        self.stamps, self.packet = stamps_s, float(packet)
        self.period = stamps_s[-1]
        self.n = len(stamps_s)

    def bytes_by(self, t: float) -> float:
        if t < 0:
            return 0.0
        loops = math.floor(t / self.period)
        within = t - loops * self.period
        return (loops * self.n + bisect.bisect_right(self.stamps, within)) * self.packet

    def time_for(self, nbytes: float) -> float:
        if nbytes <= 0:
            return 0.0
        m = math.ceil(nbytes / self.packet - 1e-9)  # opportunities needed
        loops, i = divmod(m - 1, self.n)
        return loops * self.period + self.stamps[i]

    def rate_at(self, t: float) -> float:
        return self.mean_rate

    @property
    def mean_rate(self) -> float:
        return self.n * self.packet / self.period

    @property
    def max_rate(self) -> float:
        return self.mean_rate


class ConstantRate:
    """A fixed rate as a capacity curve (a Mahimahi uplink with a fixed downlink)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate

    def bytes_by(self, t: float) -> float:
        return max(t, 0.0) * self.rate

    def time_for(self, nbytes: float) -> float:
        return max(nbytes, 0.0) / self.rate

    def rate_at(self, t: float) -> float:
        return self.rate

    @property
    def max_rate(self) -> float:
        return self.rate


@dataclass(frozen=True)
class Steps:
    """A piecewise-constant value (RTT or loss) from ``starts[i]``; the last holds."""

    starts: tuple[float, ...]
    values: tuple[float, ...]

    def at(self, t: float) -> float:
        return self.values[max(0, bisect.bisect_right(self.starts, t) - 1)]

    @property
    def max(self) -> float:
        return max(self.values)


@dataclass(frozen=True)
class DirectionSchedule:
    """What one direction follows: its capacity, RTT and loss over trace time."""

    capacity: Capacity
    rtt_ms: Steps
    loss: Steps


@dataclass(frozen=True)
class LinkTrace:
    """A parsed trace: a schedule per direction, and where it came from."""

    source: str
    format: str  # "csv" | "mahimahi"
    up: DirectionSchedule
    down: DirectionSchedule
    duration_s: float  # CSV: last row's start; Mahimahi: the loop period

    def describe(self) -> str:
        how = "loops" if self.format == "mahimahi" else "holds its last row"
        return f"{self.source} ({self.format}, {self.duration_s:g} s, then {how})"


# --- parsing --------------------------------------------------------------------------


def load_trace(
    path: str | Path,
    *,
    down_path: str | Path | None = None,
    down_mbps: float = math.inf,
    rtt_ms: float = 0.0,
    loss: float = 0.0,
) -> LinkTrace:
    """Parse a trace file (CSV by its ``.csv`` suffix, Mahimahi otherwise).

    For a Mahimahi uplink trace, the downlink follows ``down_path`` (another Mahimahi
    trace) or the fixed ``down_mbps``; ``rtt_ms`` and ``loss`` are fixed. A CSV trace
    sets everything and takes no ``down_path``. Raises :class:`BadTrace` naming the
    file and line.
    """
    p = Path(path)
    text = _read(p)
    if p.suffix.lower() == ".csv":
        if down_path is not None:
            raise BadTrace(f"{p}: a CSV trace sets both directions; drop the downlink trace")
        return _parse_csv(text, str(p))
    up = parse_mahimahi(text, str(p))
    down: Capacity
    if down_path is not None:
        q = Path(down_path)
        down = parse_mahimahi(_read(q), str(q))
    else:
        down = _constant(down_mbps)
    rtt, lost = Steps((0.0,), (float(rtt_ms),)), Steps((0.0,), (float(loss),))
    _check_loss(loss, str(p), None)
    return LinkTrace(
        str(p), "mahimahi", DirectionSchedule(up, rtt, lost), DirectionSchedule(down, rtt, lost),
        up.period,
    )  # fmt: skip


def parse_mahimahi(text: str, source: str) -> Opportunities:
    """Mahimahi delivery opportunities (ms per line) -> a looping staircase."""
    stamps: list[float] = []
    previous = -1
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            ms = int(line)
        except ValueError:
            raise BadTrace(
                f"{source} line {number}: {line[:40]!r} is not a whole number of milliseconds "
                "(Mahimahi traces have one delivery time per line)"
            ) from None
        if ms < 0:
            raise BadTrace(f"{source} line {number}: negative time {ms} ms")
        if ms < previous:
            raise BadTrace(
                f"{source} line {number}: time {ms} ms is before the previous line's "
                f"{previous} ms (times must not decrease)"
            )
        stamps.append(ms / 1000.0)
        previous = ms
    if not stamps:
        raise BadTrace(f"{source}: empty trace (no delivery opportunities)")
    if stamps[-1] <= 0:
        raise BadTrace(f"{source} line {len(text.splitlines())}: the last time must be > 0 ms")
    return Opportunities(stamps)


def _parse_csv(text: str, source: str) -> LinkTrace:
    rows = [(n, r) for n, r in enumerate(csv.reader(text.splitlines()), start=1) if r]
    if not rows:
        raise BadTrace(f"{source}: empty trace (expected a header {','.join(CSV_COLUMNS)})")
    n0, header = rows[0]
    if tuple(c.strip() for c in header) != CSV_COLUMNS:
        raise BadTrace(
            f"{source} line {n0}: header must be {','.join(CSV_COLUMNS)}, got {','.join(header)}"
        )
    if len(rows) < 2:
        raise BadTrace(f"{source}: empty trace (a header and no rows)")
    starts: list[float] = []
    cols: list[list[float]] = [[], [], [], []]
    for number, row in rows[1:]:
        values = _row(row, source, number)
        t = values[0]
        if not starts and t != 0:
            raise BadTrace(f"{source} line {number}: the first row must start at t_s = 0")
        if starts and t <= starts[-1]:
            raise BadTrace(
                f"{source} line {number}: t_s {t:g} is not after the previous row's "
                f"{starts[-1]:g} (times must increase)"
            )
        starts.append(t)
        for col, v in zip(cols, values[1:], strict=True):
            col.append(v)
    up, down, rtt, loss = cols
    last = rows[-1][0]
    if up[-1] == 0 or down[-1] == 0:
        raise BadTrace(
            f"{source} line {last}: the last row holds forever, so its rates must be > 0"
        )
    mbps = 1e6 / 8.0
    rtt_s, loss_s = Steps(tuple(starts), tuple(rtt)), Steps(tuple(starts), tuple(loss))
    return LinkTrace(
        source, "csv",
        DirectionSchedule(PiecewiseRate(starts, [v * mbps for v in up]), rtt_s, loss_s),
        DirectionSchedule(PiecewiseRate(starts, [v * mbps for v in down]), rtt_s, loss_s),
        starts[-1],
    )  # fmt: skip


def _row(row: list[str], source: str, number: int) -> list[float]:
    if len(row) != len(CSV_COLUMNS):
        raise BadTrace(
            f"{source} line {number}: {len(row)} fields, expected {len(CSV_COLUMNS)} "
            f"({','.join(CSV_COLUMNS)})"
        )
    values: list[float] = []
    for name, cell in zip(CSV_COLUMNS, row, strict=True):
        try:
            v = float(cell)
        except ValueError:
            raise BadTrace(
                f"{source} line {number}: {name} {cell.strip()!r} is not a number"
            ) from None
        if not math.isfinite(v):
            raise BadTrace(f"{source} line {number}: {name} must be finite, got {cell.strip()}")
        if v < 0:
            raise BadTrace(f"{source} line {number}: {name} must be >= 0, got {v:g}")
        values.append(v)
    _check_loss(values[4], source, number)
    return values


def _check_loss(loss: float, source: str, number: int | None) -> None:
    where = f"{source} line {number}" if number is not None else source
    if not 0 <= loss < 1:
        raise BadTrace(f"{where}: loss must be in [0, 1), got {loss:g}")


def _constant(mbps: float) -> Capacity:
    if math.isinf(mbps):
        return ConstantRate(math.inf)
    return ConstantRate(mbps * 1e6 / 8.0)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadTrace(f"{path}: no such trace file (see traces/README.md)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise BadTrace(f"{path}: cannot read the trace: {err}") from None


# --- loss -----------------------------------------------------------------------------


def loss_penalty(nbytes: int, loss: float, rtt_s: float, rng: random.Random) -> tuple[int, float]:
    """What losing segments of a chunk costs: ``(bytes sent again, extra delay s)``.

    Each ``SEGMENT_BYTES`` segment is lost with probability ``loss``. A lost segment is
    sent again (its bytes are booked on the link a second time) and the chunk, with
    everything queued behind it, arrives one RTT later: fast retransmit with SACK repairs
    every loss of one window in one round trip. Not modelled: retransmission timeouts
    (tail losses) and the sender's congestion-window cut.
    """
    if loss <= 0 or nbytes <= 0:
        return 0, 0.0
    segments = -(-nbytes // SEGMENT_BYTES)
    lost = sum(1 for _ in range(segments) if rng.random() < loss)
    if not lost:
        return 0, 0.0
    return min(lost * SEGMENT_BYTES, nbytes), rtt_s


def fixed_trace(up_mbps: float, down_mbps: float, rtt_ms: float, loss: float) -> LinkTrace:
    """Fixed rates and RTT as a schedule: how a fixed link with ``loss > 0`` is run."""
    rtt, lost = Steps((0.0,), (float(rtt_ms),)), Steps((0.0,), (float(loss),))
    up, down = _constant(up_mbps), _constant(down_mbps)
    return LinkTrace(
        "fixed", "fixed", DirectionSchedule(up, rtt, lost), DirectionSchedule(down, rtt, lost),
        0.0,
    )  # fmt: skip
