"""The Prometheus exposition, in one process and summed over several."""

from __future__ import annotations

import os

import pytest
from prometheus_client.parser import text_string_to_metric_families

from splitinfer.cloud.metrics import MULTIPROC_ENV, Metrics


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by name and sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_render_is_prometheus_text() -> None:
    m = Metrics()
    m.requests.inc(1, "infer", "200")
    m.requests.inc(2, "infer", "503")
    m.bytes_in.inc(70, "infer")
    for size in (1, 3, 3, 200):
        m.batch_size.observe(size)
    m.latency.observe(0.004)
    text = m.render()
    lines = text.splitlines()
    assert text.endswith("\n")
    assert "# TYPE splitinfer_requests_total counter" in lines
    got = samples(text)
    assert got[("splitinfer_requests_total", (("route", "infer"), ("status", "503")))] == 2
    assert got[("splitinfer_request_bytes_total", (("route", "infer"),))] == 70
    assert got[("splitinfer_batch_size_bucket", (("le", "1.0"),))] == 1
    assert got[("splitinfer_batch_size_bucket", (("le", "4.0"),))] == 3
    assert got[("splitinfer_batch_size_bucket", (("le", "+Inf"),))] == 4
    assert got[("splitinfer_batch_size_count", ())] == 4
    assert got[("splitinfer_batch_size_sum", ())] == 207
    assert got[("splitinfer_request_latency_seconds_bucket", (("le", "0.005"),))] == 1
    assert got[("splitinfer_queue_depth", ())] == 0
    assert m.batch_size.max_bucket_seen() == float("inf")
    assert m.requests.value("infer", "503") == 2 and m.batch_size.count == 4


def test_instances_do_not_share_values() -> None:
    a, b = Metrics(), Metrics()
    a.requests.inc(3, "infer", "200")
    assert b.requests.value("infer", "200") == 0 and a.requests.value("infer", "200") == 3


def test_label_values_are_escaped() -> None:
    m = Metrics()
    m.requests.inc(1, 'a"b\\c\nd', "200")
    assert 'route="a\\"b\\\\c\\nd"' in m.render()


@pytest.mark.skipif(MULTIPROC_ENV in os.environ, reason="this process is in multiprocess mode")
def test_one_process_renders_its_own_values() -> None:
    m = Metrics()
    m.requests.inc(4, "grpc-infer", "OK")
    assert (
        samples(m.render())[
            ("splitinfer_requests_total", (("route", "grpc-infer"), ("status", "OK")))
        ]
        == 4
    )
