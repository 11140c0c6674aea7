"""Hostile input against the running server: fuzzed frames over HTTP and gRPC, bombs and
oversized bodies, described frames that lie (``python -m reliability.fuzz`` for 100,000)."""

from __future__ import annotations

import asyncio
import math

import httpx
import pytest
import torch
from reliability.fuzz import bombs, described_frame, fuzz_grpc, fuzz_http, fuzz_ws

from splitinfer import codecs, wire
from splitinfer.errors import PayloadTooLarge
from splitinfer.harness.server import ServeProcess
from splitinfer.harness.workload import Workload
from splitinfer.protocol import Result
from tests.reliability.conftest import CAP

pytestmark = pytest.mark.integration  # starts servers, subprocesses or heavy tools

PEAK_MARGIN_KB = 64 * 1024  # the server's peak RSS may grow this much over a fuzz run


def test_fuzzed_frames_over_http_get_a_typed_answer_each(
    served: ServeProcess, workload: Workload
) -> None:
    report = asyncio.run(fuzz_http(served, workload, 1500, seed=11))
    assert report.failures == 0, report.failure_samples
    assert sum(report.by_answer.values()) == 1500
    assert report.by_answer.get("400 bad_frame", 0) > 0 and report.alive_after
    assert report.hwm_after_kb - report.hwm_before_kb < PEAK_MARGIN_KB


def test_fuzzed_frames_over_grpc_unary_and_streams(
    served: ServeProcess, workload: Workload
) -> None:
    report = asyncio.run(fuzz_grpc(served, workload, 3500, seed=12))
    assert report.failures == 0, report.failure_samples
    assert sum(report.by_answer.values()) == 3500 and report.alive_after
    assert report.hwm_after_kb - report.hwm_before_kb < PEAK_MARGIN_KB


def test_fuzzed_websocket_messages_get_a_typed_answer_or_close_each(
    served: ServeProcess, workload: Workload
) -> None:
    report = asyncio.run(fuzz_ws(served, workload, 1000, seed=13))
    assert report.failures == 0, report.failure_samples
    assert sum(report.by_kind.values()) == 1000 and report.alive_after
    assert any(a.startswith("close 44") for a in report.by_answer)  # typed closes happened
    assert any(a.endswith("(mid-session)") for a in report.by_answer)
    assert report.hwm_after_kb - report.hwm_before_kb < PEAK_MARGIN_KB


def test_bombs_and_oversized_bodies_are_refused_before_allocating(
    served: ServeProcess, workload: Workload
) -> None:
    hwm = served.hwm_kb()
    results = bombs(served, workload, CAP, bomb_elements=1 << 20)
    assert [(r.name, r.got) for r in results] == [(r.name, r.expected) for r in results]
    assert served.hwm_kb() - hwm < PEAK_MARGIN_KB


def test_described_frames_must_describe_the_bundle(
    served: ServeProcess, workload: Workload
) -> None:
    url = served.url + workload.infer_path
    honest = described_frame(workload, 5)
    r = httpx.post(url, content=honest, headers=served.headers)
    assert r.status_code == 200 and Result.from_json(r.json()).top == workload.answer(5)
    b = workload.bundle
    payload = workload.payloads[5]
    lies = [
        wire.FrameHeader(
            request_id=6,
            bundle=b.fingerprint,
            codec_spec="raw",
            shape=b.feature_shape,
            dtype="float32",
        ),
        wire.FrameHeader(
            request_id=7,
            bundle=b.fingerprint,
            codec_spec=b.spec.codec,
            shape=(1, 1, 1, 1),
            dtype="float32",
        ),
    ]
    for header in lies:
        r = httpx.post(url, content=wire.encode_frame(header, payload), headers=served.headers)
        assert r.status_code == 400 and r.json()["error"] == "bad_frame", r.text


def test_a_feature_of_another_dtype_is_refused(
    served: ServeProcess, plain_workload: Workload
) -> None:
    """A payload declares float16 where the bundle makes float32 (the plain bundle's codec
    carries a dtype; a learned-prior payload carries none, it always decodes to float32)."""
    workload = plain_workload
    z = workload.bundle.edge.features(workload.images[:1])
    payload = workload.bundle.codec.encode(z.half())
    frame = wire.encode_frame(
        wire.FrameHeader(request_id=1, bundle=workload.bundle.fingerprint), payload
    )
    r = httpx.post(served.url + workload.infer_path, content=frame, headers=served.headers)
    assert r.status_code == 400 and "float32" in r.json()["message"]


def test_a_bundles_codec_refuses_a_bomb_before_decoding_it(plain_workload: Workload) -> None:
    """A payload that declares more elements than the bundle makes (the plain bundle: its
    codec's payloads declare their shape; the learned prior's shape is fixed)."""
    workload = plain_workload
    b = workload.bundle
    if codecs.needs_state(b.spec.codec):
        pytest.skip("a learned-prior payload declares no shape: it decodes the bundle's alone")
    c = b.feature_shape[1]
    side = math.isqrt(4 * (4 * math.prod(b.feature_shape) + 65536) // c) + 1
    # made by the same codec under the generic caps (its encoder checks them too)
    bomb = codecs.create(b.spec.codec).encode(torch.zeros(1, c, side, side))
    cap = b.codec.limits.max_elements  # given to the bundle's codec when it was built
    assert math.prod(b.feature_shape) <= cap < c * side * side
    with pytest.raises(PayloadTooLarge):
        b.codec.decode(bomb)
