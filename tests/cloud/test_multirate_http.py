"""A multi-rate bundle served over HTTP: every rate decodes; an unknown rate is a typed 400."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
import torch

from splitinfer import wire
from splitinfer.bundle import Bundle
from tests.cloud.helpers import FRAME_HEADERS, auth, running
from tests.test_bundle_multirate import base_bundle, multirate

pytestmark = pytest.mark.integration  # starts a server


@pytest.fixture(scope="module")
def mr() -> Bundle:
    return multirate(base_bundle())


@pytest.fixture(scope="module")
def url(mr: Bundle) -> Iterator[str]:
    with running(mr, max_batch=8, max_wait_ms=20) as (base, _, _):
        yield base


def top1(bundle: Bundle, frame: bytes) -> int:
    return int(bundle.cloud.decode_and_run(frame).argmax())


def test_every_rate_is_served_and_batches_never_mix_rates(
    url: str, mr: Bundle, images: torch.Tensor
) -> None:
    frames = [f for rate in range(3) for f in mr.edge.encode(images, 10 * rate, rate=rate)]

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(headers=FRAME_HEADERS) as client:
            target = f"{url}/v1/bundles/mr-test/infer"
            return list(await asyncio.gather(*(client.post(target, content=f) for f in frames)))

    for frame, r in zip(frames, asyncio.run(burst()), strict=True):
        assert r.status_code == 200, r.text
        assert r.json()["top"][0]["class_id"] == top1(mr, frame)
        assert r.json()["request_id"] == wire.decode_frame(frame)[0].request_id


def test_unknown_rate_is_400_and_nothing_else_is_affected(
    url: str, mr: Bundle, images: torch.Tensor
) -> None:
    good = mr.edge.encode(images[:1], rate=2)[0]
    _header, payload = wire.decode_frame(good)
    bad = wire.encode_frame(wire.FrameHeader(request_id=5, bundle=mr.fingerprint, rate=3), payload)
    target = f"{url}/v1/bundles/mr-test/infer"
    r = httpx.post(target, content=bad, headers=FRAME_HEADERS)
    assert r.status_code == 400
    assert r.json()["error"] == "unknown_rate" and "0..2" in r.json()["message"]
    after = httpx.post(target, content=good, headers=FRAME_HEADERS)
    assert after.status_code == 200 and after.json()["top"][0]["class_id"] == top1(mr, good)
    assert httpx.get(f"{url}/healthz").status_code == 200


def test_the_bundle_list_shows_the_rate_points(url: str, mr: Bundle) -> None:
    (listed,) = httpx.get(f"{url}/v1/bundles", headers=auth()).json()["bundles"]
    assert [p["rate"] for p in listed["rates"]] == [0, 1, 2]
    assert listed["rates"][2]["unit"]["channels"] == 3


def test_a_stream_session_refuses_other_points_instead_of_misdecoding(
    mr: Bundle, images: torch.Tensor
) -> None:
    from splitinfer.edge.wsclient import WsTransport
    from splitinfer.errors import BadInput

    ws = WsTransport("ws://127.0.0.1:9")  # never connected: refused before any I/O
    with pytest.raises(BadInput, match="rate point 0 only"):
        ws.infer_frame("mr-test", mr.edge.encode(images[:1], rate=1)[0])
    with pytest.raises(BadInput, match="rate point 0 only"):
        list(ws.stream("mr-test", [(0, mr.edge.encode(images[:1], rate=2)[0])]))
