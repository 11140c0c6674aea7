"""Per-request costs beyond the model: protocol bytes per transport and the probe's fixed ms."""

from __future__ import annotations

from pathlib import Path

import pytest

from splitinfer.demo.probe import fixed_ms
from splitinfer.plan import InputEncoding, RatePoint, device, link, plan, server
from splitinfer.plan.errors import BadPlanInput
from splitinfer.plan.protocol import (
    GRPC,
    HTTP,
    WEBSOCKET,
    RequestCosts,
    load_probe,
    request_costs,
    save_probe,
)
from tests.plan.toy import make_profile

PNG = InputEncoding(500, 0.0, 0.0, "test")
POINT = RatePoint(
    cut="middle", label="t", payload_bytes=100, frame_bytes=114, accuracy=None,
    accuracy_loss=0.0, encode_ms=0.0, decode_ms=0.0, measured=True, source="test",
)  # fmt: skip
LINK = link("custom:up=1,down=2,rtt=50")  # 1 Mbps: 1 byte = 0.008 ms up, 0.004 ms down


def costs(request: RequestCosts | None) -> dict[str, float]:
    p = plan(make_profile(), link=LINK, device=device("host"), server=server("host"),
             rate_points=[POINT], input_encoding=PNG, request=request)  # fmt: skip
    return {c.kind: c.cost.latency_ms for c in p.candidates}


def test_http_adds_its_head_up_its_answer_down_and_the_fixed_ms() -> None:
    base = costs(None)
    fixed = {"split": 5.0, "cloud-only": 3.0, "mobile-only": 0.5}
    with_http = costs(RequestCosts(HTTP, fixed))
    from splitinfer.plan.planner import DEFAULT_RESULT_BYTES, RESULT_FRAME_OVERHEAD

    down = (HTTP.down - DEFAULT_RESULT_BYTES - RESULT_FRAME_OVERHEAD) * 0.004
    assert with_http["split"] - base["split"] == pytest.approx(HTTP.up * 0.008 + down + 5.0)
    # cloud-only: the HTTP head replaces the frame header the old model put on the image
    from splitinfer.plan.planner import DEFAULT_HEADER_BYTES

    extra = (HTTP.up - DEFAULT_HEADER_BYTES) * 0.008 + down + 3.0
    assert with_http["cloud-only"] - base["cloud-only"] == pytest.approx(extra)
    assert with_http["mobile-only"] - base["mobile-only"] == pytest.approx(0.5)


def test_a_payload_only_transport_drops_the_frame_header() -> None:
    ws, grpc = costs(RequestCosts(WEBSOCKET)), costs(RequestCosts(GRPC))
    base = costs(None)
    assert WEBSOCKET.up < POINT.frame_bytes - POINT.payload_bytes
    assert ws["split"] - base["split"] < grpc["split"] - base["split"]


def test_fixed_ms_is_the_p50_less_the_model_stages_floored_at_zero() -> None:
    compute = {"edge_ms": 1.0, "encode_ms": 0.5, "decode_ms": 0.5, "tail_ms": 2.0,
               "full_ms": 3.0, "png_encode_ms": 0.1, "png_decode_ms": 0.1}  # fmt: skip
    got = fixed_ms(compute, {"split": 10.0, "cloud-only": 7.2, "mobile-only": 2.0})
    assert got == pytest.approx({"split": 6.0, "cloud-only": 4.0, "mobile-only": 0.0})


def test_the_probe_round_trips_and_feeds_request_costs(tmp_path: Path) -> None:
    path = tmp_path / "probe.json"
    assert load_probe(path) is None and request_costs(None).fixed("split") == 0.0
    save_probe(path, {"fixed_ms": {"http": {"split": 4.0}, "local": {"mobile-only": 0.2}},
                      "machine": {"hostname": "h"}, "measured_at": "now"})  # fmt: skip
    rc = request_costs(load_probe(path), "http")
    assert (rc.fixed("split"), rc.fixed("mobile-only"), rc.fixed("cloud-only")) == (4.0, 0.2, 0.0)
    assert rc.transport is HTTP and "on h" in rc.source
    path.write_text("{}")
    with pytest.raises(BadPlanInput, match="--probe"):
        load_probe(path)
    with pytest.raises(BadPlanInput, match="known"):
        request_costs(None, "carrier-pigeon")
