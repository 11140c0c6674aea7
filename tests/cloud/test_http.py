"""The HTTP server for real: uvicorn on an ephemeral loopback port, httpx as the client."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator

import httpx
import pytest
import torch
from PIL import Image

from splitinfer import wire
from splitinfer.bundle import Bundle
from splitinfer.cloud.http import head_bytes
from splitinfer.protocol import FRAME_TYPE, RESULT_TYPE, Result
from tests.cloud.helpers import CAP, FRAME_HEADERS, TOKEN, auth, raw_exchange, running

pytestmark = pytest.mark.integration  # starts servers, subprocesses or heavy tools


@pytest.fixture(scope="module")
def url(bundle: Bundle) -> Iterator[str]:
    with running(bundle, max_batch=8, max_wait_ms=20) as (base, _, _):
        yield base


def infer_url(url: str, bundle_id: str = "fmnist-test") -> str:
    return f"{url}/v1/bundles/{bundle_id}/infer"


def expected(bundle: Bundle, frame: bytes, k: int = 5) -> tuple[list[int], list[float]]:
    top = torch.softmax(bundle.cloud.decode_and_run(frame), dim=1)[0].topk(k)
    return top.indices.tolist(), top.values.tolist()


async def burst(url: str, frames: list[bytes]) -> list[httpx.Response]:
    """Post every frame at once."""
    async with httpx.AsyncClient(headers=FRAME_HEADERS) as client:
        calls = (client.post(infer_url(url), content=f) for f in frames)
        return list(await asyncio.gather(*calls))


def test_json_results_match_in_process_inference(
    url: str, bundle: Bundle, frames: list[bytes]
) -> None:
    for frame in frames[:3]:
        r = httpx.post(infer_url(url), content=frame, headers=FRAME_HEADERS)
        assert r.status_code == 200, r.text
        body = r.json()
        ids, scores = expected(bundle, frame)
        assert [t["class_id"] for t in body["top"]] == ids
        assert [t["score"] for t in body["top"]] == pytest.approx(scores, abs=1e-5)
        assert [t["class"] for t in body["top"]] == [bundle.spec.classes[i] for i in ids]
        assert body["request_id"] == wire.decode_frame(frame)[0].request_id
        assert set(body["timing"]) >= {"queue_ms", "decode_ms", "compute_ms", "batch_size"}
        assert "compute;dur=" in r.headers["server-timing"]


def test_binary_result_frame_on_request(url: str, bundle: Bundle, frames: list[bytes]) -> None:
    headers = {**FRAME_HEADERS, "Accept": RESULT_TYPE}
    r = httpx.post(infer_url(url), content=frames[3], headers=headers, params={"k": 3})
    assert r.status_code == 200 and r.headers["content-type"] == RESULT_TYPE
    top = Result.from_frame(r.content)
    ids, scores = expected(bundle, frames[3], 3)
    assert list(top.class_ids) == ids and top.request_id == 103
    assert list(top.scores) == pytest.approx(scores, abs=1e-5)


def test_concurrent_requests_are_batched(url: str, bundle: Bundle, frames: list[bytes]) -> None:
    responses = asyncio.run(burst(url, frames))
    assert all(r.status_code == 200 for r in responses)
    for frame, r in zip(frames, responses, strict=True):
        assert list(Result.from_json(r.json()).class_ids) == expected(bundle, frame)[0]
    metrics = httpx.get(f"{url}/metrics", headers=auth()).text
    assert "splitinfer_batch_size_bucket" in metrics
    assert 'splitinfer_requests_total{route="infer",status="200"}' in metrics
    assert max(Result.from_json(r.json()).timed.batch_size for r in responses) > 1


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("fmnist-test", b"\x89S\x01\x01garbage", 400, "bad_frame"),
        ("fmnist-test", b"", 400, "bad_frame"),
        ("no-such-bundle", None, 404, "unknown_bundle"),
    ],
)
def test_errors_are_json_with_the_mapped_status(
    url: str, frames: list[bytes], path: str, body: bytes | None, status: int, code: str
) -> None:
    r = httpx.post(infer_url(url, path), content=frames[0] if body is None else body,
                   headers=FRAME_HEADERS)  # fmt: skip
    assert r.status_code == status
    assert r.json()["error"] == code and r.json()["message"]


def test_wrong_content_type_is_400_but_only_after_auth(url: str, frames: list[bytes]) -> None:
    headers = {**FRAME_HEADERS, "Content-Type": "application/json"}
    r = httpx.post(infer_url(url), content=frames[0], headers=headers)
    assert r.status_code == 400 and r.json()["error"] == "bad_input"
    r = httpx.post(infer_url(url), content=frames[0], headers={"Content-Type": "text/plain"})
    assert r.status_code == 401


@pytest.mark.parametrize("k", ["0", "11", "abc"])
def test_bad_k_is_400(url: str, frames: list[bytes], k: str) -> None:
    r = httpx.post(infer_url(url), content=frames[0], headers=FRAME_HEADERS, params={"k": k})
    assert r.status_code == 400 and r.json()["error"] == "bad_input"


def test_a_frame_for_another_bundle_is_404(url: str, frames: list[bytes]) -> None:
    _, payload = wire.decode_frame(frames[0])
    stale = wire.encode_frame(wire.FrameHeader(request_id=1, bundle=7), payload)
    r = httpx.post(infer_url(url), content=stale, headers=FRAME_HEADERS)
    assert r.status_code == 404 and "stale" in r.json()["message"]


@pytest.mark.parametrize("headers", [{}, auth("wrong"), {"Authorization": TOKEN}])
def test_missing_or_wrong_token_is_401(url: str, frames: list[bytes], headers: dict) -> None:
    r = httpx.post(infer_url(url), content=frames[0], headers=headers)
    assert r.status_code == 401 and r.json()["error"] == "unauthenticated"
    assert r.headers["www-authenticate"] == "Bearer"
    assert httpx.get(f"{url}/v1/bundles", headers=headers).status_code == 401
    assert httpx.get(f"{url}/metrics", headers=headers).status_code == 401


def test_probes_and_bundle_list(url: str, bundle: Bundle) -> None:
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{url}/readyz").status_code == 200
    listed = httpx.get(f"{url}/v1/bundles", headers=auth()).json()["bundles"]
    assert [(b["id"], b["fingerprint"]) for b in listed] == [
        (bundle.spec.id, f"{bundle.fingerprint:08x}")
    ]


def test_declared_oversize_body_is_413_before_any_byte(url: str) -> None:
    head = (
        f"POST /v1/bundles/fmnist-test/infer HTTP/1.1\nHost: x\nAuthorization: Bearer {TOKEN}\n"
        f"Content-Type: {FRAME_TYPE}\nContent-Length: 100000000\n"
    )
    status, data = raw_exchange(url, head)  # not one body byte sent
    assert status == 413 and b"payload_too_large" in data


def test_chunked_body_growing_past_the_cap_is_413_midway(url: str) -> None:
    head = (
        f"POST /v1/bundles/fmnist-test/infer HTTP/1.1\nHost: x\nAuthorization: Bearer {TOKEN}\n"
        f"Content-Type: {FRAME_TYPE}\nTransfer-Encoding: chunked\n"
    )
    size = CAP + 100
    chunk = f"{size:x}\r\n".encode() + b"\0" * size + b"\r\n"  # no final 0-chunk: body open
    status, data = raw_exchange(url, head, chunk)
    assert status == 413 and b"payload_too_large" in data


def test_a_request_head_over_the_cap_is_431(url: str, frames: list[bytes]) -> None:
    head = f"POST /v1/bundles/fmnist-test/infer HTTP/1.1\nHost: x\nAuthorization: Bearer {TOKEN}\n"
    status, data = raw_exchange(url, head + f"X-Pad: {'a' * 200_000}\n")  # 200 KB header
    assert status == 431 and b"headers_too_large" in data
    normal = {**FRAME_HEADERS, "X-Pad": "a" * 8_000}  # a large but ordinary head still works
    r = httpx.post(infer_url(url), content=frames[0], headers=normal)
    assert r.status_code == 200, r.text
    many = {**FRAME_HEADERS, **{f"X-Pad-{i}": "a" * 1000 for i in range(40)}}  # 40 KB in all
    assert httpx.post(infer_url(url), content=frames[0], headers=many).status_code == 431


@pytest.mark.parametrize("query", [b"", b"k=5"])
def test_head_bytes_counts_the_head_as_sent(query: bytes) -> None:
    """What the Ray replica measures (its proxy hands it a parsed head) is the wire size."""
    headers = [(b"host", b"a"), (b"x-pad", b"b" * 300)]
    target = b"/v1/x" + (b"?" + query if query else b"")
    raw = b"POST " + target + b" HTTP/1.1\r\n"
    raw += b"".join(k + b": " + v + b"\r\n" for k, v in headers) + b"\r\n"
    scope = {"method": "POST", "path": "/v1/x", "raw_path": b"/v1/x", "query_string": query,
             "headers": headers}  # fmt: skip
    assert head_bytes(scope) == len(raw)


def test_honest_oversize_body_is_413(url: str) -> None:
    r = httpx.post(infer_url(url), content=b"\0" * (CAP + 1), headers=FRAME_HEADERS)
    assert r.status_code == 413


def test_infer_image_baseline(url: str, bundle: Bundle, images: torch.Tensor) -> None:
    buf = io.BytesIO()
    Image.fromarray(images[0, 0].numpy(), mode="L").save(buf, format="PNG")
    r = httpx.post(f"{url}/v1/bundles/fmnist-test/infer-image", content=buf.getvalue(),
                   headers=auth(), params={"request_id": 5})  # fmt: skip
    assert r.status_code == 200, r.text
    with torch.no_grad():
        probs = torch.softmax(bundle.full(bundle.spec.preprocess(images[:1])), dim=1)[0]
    result = Result.from_json(r.json())
    assert list(result.class_ids) == probs.topk(5).indices.tolist() and result.request_id == 5
    bad = httpx.post(f"{url}/v1/bundles/fmnist-test/infer-image", content=b"GIF89a",
                     headers=auth())  # fmt: skip
    assert bad.status_code == 400 and bad.json()["error"] == "bad_input"


def test_full_queue_is_503_and_drain_refuses_new_work(bundle: Bundle, frames: list[bytes]) -> None:
    with running(bundle, max_batch=8, max_wait_ms=300, max_queue=1) as (url, dp, _):
        statuses = sorted(r.status_code for r in asyncio.run(burst(url, frames[:3])))
        assert statuses[0] == 200 and statuses[-1] == 503
        dp.begin_drain()
        r = httpx.post(infer_url(url), content=frames[0], headers=FRAME_HEADERS)
        assert r.status_code == 503 and "draining" in r.json()["message"]
        assert r.headers["retry-after"] == "1"
        assert httpx.get(f"{url}/readyz").status_code == 503


def test_the_docs_page_loads_nothing_from_a_cdn(url: str) -> None:
    for page in ("/docs", "/redoc"):
        r = httpx.get(url + page)
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]
        assert "cdn" not in r.text.lower() and "https://" not in r.text, r.text
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
            if asset in r.text:
                got = httpx.get(f"{url}/static-offline-docs/{asset}")
                assert got.status_code == 200 and len(got.content) > 10_000
