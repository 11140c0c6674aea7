"""Server metrics in the Prometheus text exposition format (hand-written, no dependency).

Counters, gauges and histograms are updated from the event loop and the worker thread,
so each one takes a lock; :meth:`Metrics.render` produces the ``/metrics`` body.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Sequence

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
"""Upper bounds of the request latency histogram, in seconds."""

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
"""Upper bounds of the batch size histogram."""


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    pairs = (f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True))
    return "{" + ",".join(pairs) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Counter:
    """A monotonically increasing value per label set."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        self.name, self.help, self.label_names = name, help_text, tuple(labels)
        self._values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def inc(self, amount: float = 1.0, *labels: str) -> None:
        """Add ``amount`` (>= 0) to the series named by ``labels``."""
        with self._lock:
            self._values[labels] = self._values.get(labels, 0.0) + amount

    def value(self, *labels: str) -> float:
        """The current value of one series (0 if never touched)."""
        with self._lock:
            return self._values.get(labels, 0.0)

    def samples(self) -> list[str]:
        """Exposition lines for every series."""
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{_labels(self.label_names, k)} {_num(v)}" for k, v in items]


class Gauge(Counter):
    """A value that goes up and down (only ``set`` is needed here)."""

    kind = "gauge"

    def set(self, value: float, *labels: str) -> None:
        """Replace the series' value."""
        with self._lock:
            self._values[labels] = value


class Histogram:
    """Cumulative-bucket histogram without labels."""

    kind = "histogram"

    def __init__(self, name: str, help_text: str, buckets: Sequence[float]) -> None:
        self.name, self.help, self.label_names = name, help_text, ()
        self.bounds = tuple(sorted(buckets))
        self._counts = [0] * (len(self.bounds) + 1)
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        """Record one observation."""
        with self._lock:
            self._counts[bisect.bisect_left(self.bounds, value)] += 1
            self._sum += value

    @property
    def count(self) -> int:
        """Number of observations so far."""
        with self._lock:
            return sum(self._counts)

    def max_bucket_seen(self) -> float:
        """Upper bound of the highest non-empty bucket (0 if none): for quick checks."""
        with self._lock:
            seen = [i for i, c in enumerate(self._counts) if c]
        if not seen:
            return 0.0
        return self.bounds[seen[-1]] if seen[-1] < len(self.bounds) else math.inf

    def samples(self) -> list[str]:
        """``_bucket``, ``_sum`` and ``_count`` exposition lines."""
        with self._lock:
            counts, total = list(self._counts), self._sum
        lines, running = [], 0
        for bound, c in zip((*self.bounds, math.inf), counts, strict=True):
            running += c
            lines.append(f'{self.name}_bucket{{le="{_num(bound)}"}} {running}')
        lines += [f"{self.name}_sum {_num(total)}", f"{self.name}_count {running}"]
        return lines


class Metrics:
    """Every metric the server exports; one instance per :class:`DataPlane`."""

    def __init__(self) -> None:
        self.requests = Counter(
            "splitinfer_requests_total", "Requests by route and outcome.", ("route", "status")
        )
        self.bytes_in = Counter(
            "splitinfer_request_bytes_total", "Request body bytes accepted.", ("route",)
        )
        self.latency = Histogram(
            "splitinfer_request_latency_seconds",
            "Server-side latency of successful inferences.",
            LATENCY_BUCKETS_S,
        )
        self.batch_size = Histogram(
            "splitinfer_batch_size", "Requests per model run.", BATCH_BUCKETS
        )
        self.queue_depth = Gauge(
            "splitinfer_queue_depth", "Admitted requests not yet on the worker."
        )
        self.queue_depth.set(0)

    def render(self) -> str:
        """The whole registry in the Prometheus text format (version 0.0.4)."""
        lines: list[str] = []
        for m in (self.requests, self.bytes_in, self.latency, self.batch_size, self.queue_depth):
            lines += [f"# HELP {m.name} {m.help}", f"# TYPE {m.name} {m.kind}", *m.samples()]
        return "\n".join(lines) + "\n"
