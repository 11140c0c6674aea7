"""DataPlane without any transport: routing, batching, overload, drain, images."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
import torch
from PIL import Image

from splitinfer import wire
from splitinfer.bundle import Bundle
from splitinfer.cloud import DataPlane, Result
from splitinfer.errors import BadFrame, BadInput, Overloaded, PayloadTooLarge, UnknownBundle

T = TypeVar("T")


def run(bundle: Bundle, body: Callable[[DataPlane], Awaitable[T]], **kwargs: float) -> T:
    """Run ``body(dataplane)`` on a fresh event loop and close the DataPlane after."""

    async def main() -> T:
        dp = DataPlane([bundle], **kwargs)  # type: ignore[arg-type]
        try:
            return await body(dp)
        finally:
            await dp.close()

    return asyncio.run(main())


def expected_top(bundle: Bundle, frame: bytes, k: int) -> tuple[list[int], list[float]]:
    probs = torch.softmax(bundle.cloud.decode_and_run(frame), dim=1)[0]
    top = probs.topk(k)
    return top.indices.tolist(), top.values.tolist()


def check(bundle: Bundle, result: Result, frame: bytes) -> None:
    ids, scores = expected_top(bundle, frame, len(result.class_ids))
    assert list(result.class_ids) == ids
    assert result.scores == pytest.approx(scores, abs=1e-5)
    assert result.classes == tuple(bundle.spec.classes[i] for i in ids)
    assert result.request_id == wire.decode_frame(frame)[0].request_id


def test_batched_results_equal_unbatched_ones(bundle: Bundle, frames: list[bytes]) -> None:
    async def batched(dp: DataPlane) -> list[Result]:
        return list(await asyncio.gather(*(dp.infer(f) for f in frames)))

    async def one_by_one(dp: DataPlane) -> list[Result]:
        return [await dp.infer(f, bundle.spec.id) for f in frames]

    many = run(bundle, batched, max_batch=8, max_wait_ms=200)
    single = run(bundle, one_by_one, max_batch=1, max_wait_ms=0)
    assert max(r.timing.batch_size for r in many) > 1
    assert all(r.timing.batch_size == 1 for r in single)
    for frame, a, b in zip(frames, many, single, strict=True):
        check(bundle, a, frame)
        assert a.class_ids == b.class_ids
        assert a.scores == pytest.approx(b.scores, abs=1e-5)
        assert a.timing.queue_ms >= 0 and a.timing.decode_ms > 0 and a.timing.compute_ms > 0


def test_batch_size_metric_sees_the_batches(bundle: Bundle, frames: list[bytes]) -> None:
    async def body(dp: DataPlane) -> float:
        await asyncio.gather(*(dp.infer(f) for f in frames[:4]))
        return dp.metrics.batch_size.max_bucket_seen()

    assert run(bundle, body, max_batch=4, max_wait_ms=200) == 4


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda f: f[:-1], BadFrame),
        (lambda f: b"nope" + f, BadFrame),
        (lambda f: f[:4] + f[4:5] + b"\0\0\0\0" + f[9:-4] + f[-4:], BadFrame),  # bad CRC
    ],
)
def test_broken_frames_are_refused(
    bundle: Bundle, frames: list[bytes], mutate: Callable[[bytes], bytes], error: type
) -> None:
    async def body(dp: DataPlane) -> Result:
        return await dp.infer(mutate(frames[0]))

    with pytest.raises(error):
        run(bundle, body)


def test_two_bundles_share_one_worker_and_batch_apart(
    bundle: Bundle, other_bundle: Bundle, images: torch.Tensor, frames: list[bytes]
) -> None:
    other_frames = other_bundle.edge.encode(images[:4], first_request_id=500)
    mixed = [f for pair in zip(frames[:4], other_frames, strict=True) for f in pair]

    async def body() -> tuple[list[Result], list[dict[str, object]]]:
        dp = DataPlane([bundle, other_bundle], max_batch=16, max_wait_ms=100)
        try:
            return list(await asyncio.gather(*(dp.infer(f) for f in mixed))), dp.describe()
        finally:
            await dp.close()

    results, described = asyncio.run(body())
    assert [d["id"] for d in described] == [bundle.spec.id, other_bundle.spec.id]
    for frame, r in zip(mixed, results, strict=True):
        owner = bundle if r.bundle_id == bundle.spec.id else other_bundle
        assert r.bundle_id == (bundle.spec.id if frame in frames else other_bundle.spec.id)
        check(owner, r, frame)
        assert r.timing.batch_size == 4  # one run per bundle, not one for all eight
    with pytest.raises(BadInput, match="twice"):
        DataPlane([bundle, bundle])


def test_unknown_or_mismatched_bundle(bundle: Bundle, frames: list[bytes]) -> None:
    _, payload = wire.decode_frame(frames[0])
    stranger = wire.encode_frame(wire.FrameHeader(request_id=1, bundle=12345), payload)

    async def by_fingerprint(dp: DataPlane) -> Result:
        return await dp.infer(stranger)

    async def by_url(dp: DataPlane) -> Result:
        return await dp.infer(frames[0], "other-bundle")

    with pytest.raises(UnknownBundle, match="stale"):
        run(bundle, by_fingerprint)
    with pytest.raises(UnknownBundle, match="other-bundle"):
        run(bundle, by_url)


def test_a_corrupt_payload_fails_alone(bundle: Bundle, frames: list[bytes]) -> None:
    header, _ = wire.decode_frame(frames[0])
    garbage = wire.encode_frame(header, b"\x01\x02\x03")

    async def body(dp: DataPlane) -> list[object]:
        return list(
            await asyncio.gather(dp.infer(garbage), dp.infer(frames[1]), return_exceptions=True)
        )

    bad, good = run(bundle, body, max_batch=4, max_wait_ms=100)
    assert getattr(bad, "code", None) in {"codec_error", "bad_frame", "payload_too_large"}
    assert isinstance(good, Result)
    check(bundle, good, frames[1])


def test_full_queue_raises_overloaded(bundle: Bundle, frames: list[bytes]) -> None:
    async def body(dp: DataPlane) -> list[object]:
        calls = (dp.infer(f) for f in frames[:3])
        return list(await asyncio.gather(*calls, return_exceptions=True))

    out = run(bundle, body, max_batch=8, max_wait_ms=100, max_queue=2)
    assert [type(r) for r in out] == [Result, Result, Overloaded]


def test_drain_refuses_new_requests_and_finishes_in_flight(
    bundle: Bundle, frames: list[bytes]
) -> None:
    async def body(dp: DataPlane) -> tuple[Result, bool, bool]:
        first = asyncio.ensure_future(dp.infer(frames[0]))
        await asyncio.sleep(0.01)  # admitted, waiting for its batch
        drained = asyncio.ensure_future(dp.drain(timeout_s=5))
        await asyncio.sleep(0)
        with pytest.raises(Overloaded, match="draining"):
            await dp.infer(frames[1])
        return await first, await drained, dp.draining

    result, drained, draining = run(bundle, body, max_batch=8, max_wait_ms=100)
    check(bundle, result, frames[0])
    assert drained and draining


def _png(images: torch.Tensor, size: tuple[int, int] | None = None) -> bytes:
    im = Image.fromarray(images[0, 0].numpy(), mode="L")
    if size:
        im = im.resize(size)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def test_infer_image_runs_the_full_model(bundle: Bundle, images: torch.Tensor) -> None:
    async def body(dp: DataPlane) -> Result:
        return await dp.infer_image(_png(images), bundle.spec.id, request_id=9, k=3)

    result = run(bundle, body)
    with torch.no_grad():
        probs = torch.softmax(bundle.full(bundle.spec.preprocess(images[:1])), dim=1)[0]
    assert list(result.class_ids) == probs.topk(3).indices.tolist()
    assert result.request_id == 9 and len(result.scores) == 3


def test_jpeg_and_rgb_uploads_are_converted(bundle: Bundle, images: torch.Tensor) -> None:
    buf = io.BytesIO()
    Image.fromarray(images[1, 0].numpy(), mode="L").convert("RGB").resize((56, 56)).save(
        buf, format="JPEG", quality=95
    )

    async def body(dp: DataPlane) -> Result:
        return await dp.infer_image(buf.getvalue(), bundle.spec.id)

    result = run(bundle, body)
    assert len(result.class_ids) == 5 and result.classes[0] in bundle.spec.classes


@pytest.mark.parametrize(
    ("data", "error"),
    [(b"not an image", BadInput), (None, PayloadTooLarge)],
)
def test_bad_or_huge_images_are_refused(
    bundle: Bundle, images: torch.Tensor, data: bytes | None, error: type
) -> None:
    payload = data if data is not None else _png(images, size=(300, 300))

    async def body(dp: DataPlane) -> Result:
        return await dp.infer_image(payload, bundle.spec.id)

    with pytest.raises(error):
        run(bundle, body, max_image_pixels=28 * 28 * 4)


@pytest.fixture(scope="module")
def raw_bundle() -> Bundle:
    """A bundle whose codec ("raw") keeps dtype and values: it carries NaN and float16."""
    from tests.cloud.conftest import build

    return build("fmnist-raw", "raw", seed=2)


def _bad_frames(b: Bundle) -> dict[str, tuple[bytes, str]]:
    """Frames the cloud decode path must refuse, with what the message says."""
    from splitinfer.data import synthetic

    z = b.edge.features(synthetic(1, seed=3)[0])
    raw = b.codec.encode(z)

    def compact(payload: bytes) -> bytes:
        return wire.encode_frame(wire.FrameHeader(request_id=9, bundle=b.fingerprint), payload)

    lie = wire.FrameHeader(
        request_id=9, bundle=b.fingerprint, codec_spec="raw", shape=(1, 1, 1, 1), dtype="float32"
    )
    return {
        "float16": (compact(b.codec.encode(z.half())), "takes float32"),
        "nan": (compact(raw), "NaN or Inf"),  # with a codec that decodes NaN (see below)
        "shape": (compact(b.codec.encode(z[..., :3])), "decoded feature"),
        "described lie": (wire.encode_frame(lie, raw), "send a compact frame"),
    }


@pytest.mark.parametrize("case", ["float16", "nan", "shape", "described lie"])
def test_the_server_and_cloud_decode_refuse_the_same_frames(
    raw_bundle: Bundle, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One decode path: DataPlane.infer refuses exactly what CloudHalf.decode refuses."""
    frame, says = _bad_frames(raw_bundle)[case]
    if case == "nan":  # the shipped codecs refuse NaN themselves; a codec that did not
        decode = raw_bundle.codec.decode

        def nan_decode(payload: bytes) -> torch.Tensor:
            z = decode(payload).clone()
            z.view(-1)[0] = float("nan")
            return z

        monkeypatch.setattr(raw_bundle.codec, "decode", nan_decode)
    with pytest.raises(BadFrame, match=says) as direct:
        raw_bundle.cloud.decode(frame)

    async def body(dp: DataPlane) -> Result:
        return await dp.infer(frame)

    with pytest.raises(BadFrame) as served:
        run(raw_bundle, body)
    assert served.value.message == direct.value.message


def test_a_described_learned_frame_may_write_its_spec_another_way() -> None:
    """Described frames are checked against the bundle's codec with the one factory's
    canonical text, learned codecs included (``coder=exact`` is how old specs read)."""
    from splitinfer.bundle import default_bundle_path

    b = Bundle.load(default_bundle_path())

    def header(spec: str) -> wire.FrameHeader:
        return wire.FrameHeader(
            request_id=1, bundle=b.fingerprint, codec_spec=spec, shape=b.feature_shape,
            dtype="float32",
        )  # fmt: skip

    b.cloud.check_header(header(b.spec.codec))
    b.cloud.check_header(header(b.spec.codec + ",coder=exact"))
    with pytest.raises(BadFrame):
        b.cloud.check_header(header(b.spec.codec + ",coder=range"))
