"""Per-request deadlines: a slow model run and a slow (byte-at-a-time) upload."""

from __future__ import annotations

import asyncio
import time

import pytest
import torch

from splitinfer.bundle import Bundle
from splitinfer.cloud import DataPlane
from splitinfer.errors import BadInput, DeadlineExceeded
from splitinfer.protocol import FRAME_TYPE
from tests.cloud.helpers import TOKEN, raw_exchange, running

pytestmark = pytest.mark.integration  # starts servers, subprocesses or heavy tools


def test_a_slow_run_misses_the_deadline_and_the_worker_survives(
    bundle: Bundle, frames: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast_run = bundle.cloud.run

    def slow_run(z: torch.Tensor) -> torch.Tensor:
        time.sleep(0.5)
        return fast_run(z)

    async def scenario() -> None:
        dp = DataPlane([bundle], request_timeout_s=0.1)
        try:
            monkeypatch.setattr(bundle.cloud, "run", slow_run)
            with pytest.raises(DeadlineExceeded, match="deadline"):
                await dp.infer(frames[0])
            monkeypatch.setattr(bundle.cloud, "run", fast_run)
            await asyncio.sleep(0.6)  # the late result lands on a cancelled future
            result = await dp.infer(frames[1])
            assert result.class_ids[0] == int(fast_run(bundle.cloud.decode(frames[1])[1]).argmax())
        finally:
            await dp.close()

    asyncio.run(scenario())


def test_a_trickling_upload_gets_504_within_the_deadline(bundle: Bundle) -> None:
    with running(bundle, server={"request_timeout_s": 0.5}) as (url, _dp, _server):
        head = (
            f"POST /v1/bundles/{bundle.spec.id}/infer HTTP/1.1\nHost: t\n"
            f"Authorization: Bearer {TOKEN}\nContent-Type: {FRAME_TYPE}\n"
            "Content-Length: 100\n"
        )
        start = time.perf_counter()
        status, data = raw_exchange(url, head, b"x")  # 1 of 100 bytes, then silence
        assert status == 504 and b"deadline_exceeded" in data
        assert time.perf_counter() - start >= 0.5


def test_bad_deadline_is_refused(bundle: Bundle) -> None:
    with pytest.raises(BadInput):
        DataPlane([bundle], request_timeout_s=0)
