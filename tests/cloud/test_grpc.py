"""The gRPC service for real: grpc.aio server and client on an ephemeral loopback port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
import pytest
import torch

from splitinfer import wire
from splitinfer.bundle import Bundle
from splitinfer.cloud import DataPlane
from splitinfer.cloud.grpc import start_grpc_server
from splitinfer.protocol.pb import splitinfer_pb2 as pb
from splitinfer.protocol.pb import splitinfer_pb2_grpc as pb_grpc

pytestmark = pytest.mark.integration  # starts servers, subprocesses or heavy tools

T = TypeVar("T")
TOKEN = "grpc-token"
AUTH = (("authorization", f"Bearer {TOKEN}"),)


def with_server(
    bundle: Bundle, body: Callable[[Any, DataPlane], Awaitable[T]], **dataplane: Any
) -> T:
    """Run ``body(stub, dataplane)`` against a fresh server, then stop everything."""

    async def main() -> T:
        dp = DataPlane([bundle], **dataplane)
        server, port = await start_grpc_server(dp, token=TOKEN, max_message_bytes=4096)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                return await body(pb_grpc.SplitInferenceStub(channel), dp)
        finally:
            await dp.drain(5)
            await server.stop(1)
            await dp.close()

    return asyncio.run(main())


def expected_ids(bundle: Bundle, frame: bytes, k: int = 5) -> list[int]:
    return torch.softmax(bundle.cloud.decode_and_run(frame), dim=1)[0].topk(k).indices.tolist()


def test_unary_infer_matches_in_process(bundle: Bundle, frames: list[bytes]) -> None:
    async def body(stub: Any, _: DataPlane) -> Any:
        return await stub.Infer(pb.InferRequest(frame=frames[2], top_k=3), metadata=AUTH)

    reply = with_server(bundle, body)
    assert [p.class_id for p in reply.top] == expected_ids(bundle, frames[2], 3)
    assert reply.request_id == 102 and reply.bundle_id == bundle.spec.id
    assert reply.top[0].class_name == bundle.spec.classes[reply.top[0].class_id]


@pytest.mark.parametrize(
    ("request_", "metadata", "status"),
    [
        (pb.InferRequest(frame=b"junk"), AUTH, grpc.StatusCode.INVALID_ARGUMENT),
        (pb.InferRequest(frame=b"", bundle_id="x"), AUTH, grpc.StatusCode.INVALID_ARGUMENT),
        (pb.InferRequest(bundle_id="nope"), AUTH, grpc.StatusCode.NOT_FOUND),
        (pb.InferRequest(), (("authorization", "Bearer wrong"),), grpc.StatusCode.UNAUTHENTICATED),
        (pb.InferRequest(), (), grpc.StatusCode.UNAUTHENTICATED),
        (pb.InferRequest(frame=b"\0" * 8000), AUTH, grpc.StatusCode.RESOURCE_EXHAUSTED),
    ],
)
def test_errors_map_to_status_codes(
    bundle: Bundle, frames: list[bytes], request_: Any, metadata: Any, status: Any
) -> None:
    if request_.bundle_id == "nope":
        request_ = pb.InferRequest(frame=frames[0], bundle_id="nope")

    async def body(stub: Any, _: DataPlane) -> grpc.StatusCode:
        try:
            await stub.Infer(request_, metadata=metadata)
        except grpc.aio.AioRpcError as err:
            return err.code()
        return grpc.StatusCode.OK

    assert with_server(bundle, body) == status


def test_stream_answers_in_order_batches_and_survives_bad_frames(
    bundle: Bundle, frames: list[bytes]
) -> None:
    sent = [*frames[:4], b"garbage", *frames[4:]]

    async def requests() -> AsyncIterator[Any]:
        for f in sent:
            yield pb.InferRequest(frame=f)

    async def body(stub: Any, dp: DataPlane) -> list[Any]:
        return [r async for r in stub.InferStream(requests(), metadata=AUTH)]

    replies = with_server(bundle, body, max_batch=8, max_wait_ms=50)
    assert [r.sequence for r in replies] == list(range(len(sent)))
    assert replies[4].error.code == "bad_frame" and not replies[4].top
    good = [r for r in replies if not r.HasField("error")]
    assert [r.request_id for r in good] == [wire.decode_frame(f)[0].request_id for f in frames]
    for frame, r in zip(frames, good, strict=True):
        assert [p.class_id for p in r.top] == expected_ids(bundle, frame)
    assert max(r.timing.batch_size for r in good) > 1


def test_overload_is_unavailable_and_bundles_are_listed(
    bundle: Bundle, frames: list[bytes]
) -> None:
    async def body(stub: Any, dp: DataPlane) -> tuple[list[Any], Any]:
        calls = [stub.Infer(pb.InferRequest(frame=f), metadata=AUTH) for f in frames[:3]]
        out = await asyncio.gather(*calls, return_exceptions=True)
        listed = await stub.ListBundles(pb.ListBundlesRequest(), metadata=AUTH)
        return list(out), listed

    out, listed = with_server(bundle, body, max_batch=8, max_wait_ms=300, max_queue=1)
    codes = [r.code() if isinstance(r, grpc.aio.AioRpcError) else grpc.StatusCode.OK for r in out]
    assert grpc.StatusCode.OK in codes and grpc.StatusCode.UNAVAILABLE in codes
    assert [b.id for b in listed.bundles] == [bundle.spec.id]
    assert listed.bundles[0].fingerprint == f"{bundle.fingerprint:08x}"


def test_stream_without_token_is_unauthenticated(bundle: Bundle, frames: list[bytes]) -> None:
    async def requests() -> AsyncIterator[Any]:
        yield pb.InferRequest(frame=frames[0])

    async def body(stub: Any, _: DataPlane) -> grpc.StatusCode:
        try:
            [r async for r in stub.InferStream(requests())]
        except grpc.aio.AioRpcError as err:
            return err.code()
        return grpc.StatusCode.OK

    assert with_server(bundle, body) == grpc.StatusCode.UNAUTHENTICATED
