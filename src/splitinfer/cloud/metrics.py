"""Server metrics through ``prometheus_client``, summed over every server process.

One :class:`Metrics` per :class:`~splitinfer.cloud.dataplane.DataPlane`, with its own
registry, so tests and notebooks may build as many as they like. Several processes
serving the same port (``serve --workers N``, the replicas of ``serve --ray``) share
one directory named by ``PROMETHEUS_MULTIPROC_DIR``: ``prometheus_client`` then keeps
each process's values in memory-mapped files there, and :meth:`Metrics.render`, in
whichever process answers the scrape, adds up all of them. ``serve`` creates that
directory before it starts the processes and removes it when they are gone
(:func:`multiprocess_dir`); the variable must be set before ``prometheus_client`` is
imported, which is why only freshly started processes take part.

    counters, histograms: summed over processes; queue depth: summed over live ones
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence

import prometheus_client
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.utils import floatToGoString

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""The environment variable that puts ``prometheus_client`` in multiprocess mode."""

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
"""Upper bounds of the request latency histogram, in seconds."""

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
"""Upper bounds of the batch size histogram."""

# A `_created` timestamp per series means nothing summed over processes (and multiprocess
# mode has none): leave them out in every mode, so a scrape looks the same either way.
prometheus_client.disable_created_metrics()


def shared_dir() -> str | None:
    """The multiprocess directory this process writes to, or None (values in memory)."""
    return os.environ.get(MULTIPROC_ENV) or None


@contextlib.contextmanager
def metrics_dir() -> Iterator[str]:
    """A fresh, empty directory for server processes' metrics, removed (with everything in
    it) when the block ends. Hand it to each process as ``PROMETHEUS_MULTIPROC_DIR``."""
    path = tempfile.mkdtemp(prefix="splitinfer-metrics-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def multiprocess_dir() -> Iterator[str]:
    """:func:`metrics_dir`, named by ``PROMETHEUS_MULTIPROC_DIR`` in this process's
    environment for the block, so the processes started inside it inherit it."""
    previous = os.environ.get(MULTIPROC_ENV)
    with metrics_dir() as path:
        os.environ[MULTIPROC_ENV] = path
        try:
            yield path
        finally:
            if previous is None:
                os.environ.pop(MULTIPROC_ENV, None)
            else:
                os.environ[MULTIPROC_ENV] = previous


def process_gone(pid: int, path: str) -> None:
    """Drop a stopped process from the live gauges (its counters still count)."""
    mark_process_dead(pid, path)


class Counter:
    """A monotonically increasing value per label set."""

    def __init__(
        self, registry: CollectorRegistry, name: str, help_text: str, labels: Sequence[str] = ()
    ) -> None:
        self.name, self.label_names = name, tuple(labels)
        self._registry = registry
        self._metric = prometheus_client.Counter(
            name, help_text, self.label_names, registry=registry
        )

    def inc(self, amount: float = 1.0, *labels: str) -> None:
        """Add ``amount`` (>= 0) to the series named by ``labels``."""
        (self._metric.labels(*labels) if labels else self._metric).inc(amount)

    def value(self, *labels: str) -> float:
        """This process's value of one series (0 if never touched)."""
        found = self._registry.get_sample_value(
            self.name, dict(zip(self.label_names, labels, strict=True))
        )
        return found or 0.0


class Gauge:
    """A value that goes up and down; over processes, the sum of the live ones."""

    def __init__(self, registry: CollectorRegistry, name: str, help_text: str) -> None:
        self.name = name
        self._registry = registry
        self._metric = prometheus_client.Gauge(
            name, help_text, registry=registry, multiprocess_mode="livesum"
        )

    def set(self, value: float) -> None:
        """Replace this process's value."""
        self._metric.set(value)

    def value(self) -> float:
        """This process's value."""
        return self._registry.get_sample_value(self.name) or 0.0


class Histogram:
    """Cumulative-bucket histogram without labels."""

    def __init__(
        self, registry: CollectorRegistry, name: str, help_text: str, buckets: Sequence[float]
    ) -> None:
        self.name = name
        self.bounds = tuple(sorted(float(b) for b in buckets))
        self._registry = registry
        self._metric = prometheus_client.Histogram(
            name, help_text, registry=registry, buckets=self.bounds
        )

    def observe(self, value: float) -> None:
        """Record one observation."""
        self._metric.observe(value)

    @property
    def count(self) -> int:
        """Number of observations so far (this process)."""
        return int(self._registry.get_sample_value(f"{self.name}_count") or 0)

    def max_bucket_seen(self) -> float:
        """Upper bound of the highest non-empty bucket (0 if none): for quick checks."""
        total = self.count
        if not total:
            return 0.0
        for bound in self.bounds:  # cumulative: the first bucket holding them all
            below = self._registry.get_sample_value(f"{self.name}_bucket", {"le": _le(bound)})
            if below is not None and int(below) == total:
                return bound
        return math.inf


def _le(bound: float) -> str:
    return str(floatToGoString(bound))  # the `le` label as prometheus_client writes it


class Metrics:
    """Every metric the server exports; one instance per :class:`DataPlane`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            r, "splitinfer_requests_total", "Requests by route and outcome.", ("route", "status")
        )
        self.bytes_in = Counter(
            r, "splitinfer_request_bytes_total", "Request body bytes accepted.", ("route",)
        )
        self.latency = Histogram(
            r,
            "splitinfer_request_latency_seconds",
            "Server-side latency of successful inferences.",
            LATENCY_BUCKETS_S,
        )
        self.batch_size = Histogram(
            r, "splitinfer_batch_size", "Requests per model run.", BATCH_BUCKETS
        )
        self.queue_depth = Gauge(
            r, "splitinfer_queue_depth", "Admitted requests not yet on the worker."
        )
        self.queue_depth.set(0)

    def render(self) -> str:
        """The Prometheus text format (version 0.0.4): this process's metrics, or, in
        multiprocess mode, those of every process sharing the directory, added up."""
        path = shared_dir()
        if path is None:
            return generate_latest(self.registry).decode()
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=path)
        return generate_latest(merged).decode()
