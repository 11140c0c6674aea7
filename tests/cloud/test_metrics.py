"""The hand-written Prometheus exposition."""

from __future__ import annotations

from splitinfer.cloud.metrics import Metrics


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
    assert 'splitinfer_requests_total{route="infer",status="503"} 2' in lines
    assert 'splitinfer_batch_size_bucket{le="1"} 1' in lines
    assert 'splitinfer_batch_size_bucket{le="4"} 3' in lines
    assert 'splitinfer_batch_size_bucket{le="+Inf"} 4' in lines
    assert "splitinfer_batch_size_count 4" in lines and "splitinfer_batch_size_sum 207" in lines
    assert 'splitinfer_request_latency_seconds_bucket{le="0.005"} 1' in lines
    assert "splitinfer_queue_depth 0" in lines
    assert m.batch_size.max_bucket_seen() == float("inf")


def test_label_values_are_escaped() -> None:
    m = Metrics()
    m.requests.inc(1, 'a"b\\c\nd', "200")
    assert 'route="a\\"b\\\\c\\nd"' in m.render()
