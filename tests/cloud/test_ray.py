"""The DataPlane as a Ray Serve deployment: one replica on a local Ray, shut down cleanly."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch

from splitinfer.bundle import Bundle
from splitinfer.cloud.metrics import MULTIPROC_ENV
from splitinfer.protocol import FRAME_TYPE, ErrorReply, Result

pytest.importorskip("ray.serve")

from splitinfer.cloud import ray as ray_serve
from splitinfer.harness.server import free_port

pytestmark = pytest.mark.integration  # starts servers, subprocesses or heavy tools


@pytest.fixture(scope="module")
def deployed(bundle_dir: Path) -> Iterator[tuple[Any, str]]:
    port = free_port()
    handle = ray_serve.run(
        [bundle_dir], port=port, replicas=1, cpus_per_replica=0.5, num_cpus=2,
        settings={"max_batch": 8},
    )  # fmt: skip
    try:
        yield handle, f"http://127.0.0.1:{port}"
    finally:
        ray_serve.shutdown()
    import ray

    assert not ray.is_initialized()


def _expected(bundle: Bundle, frame: bytes) -> int:
    return int(bundle.cloud.decode_and_run(frame).argmax(1)[0])


def test_handle_and_http_give_the_in_process_prediction(
    deployed: tuple[Any, str], bundle: Bundle, frames: list[bytes]
) -> None:
    handle, url = deployed
    for frame in frames[:3]:
        via_handle = handle.infer.remote(frame, bundle.spec.id).result()
        assert Result.from_json(via_handle).top == _expected(bundle, frame)
        r = httpx.post(
            f"{url}/v1/bundles/{bundle.spec.id}/infer", content=frame,
            headers={"Content-Type": FRAME_TYPE}, timeout=30,
        )  # fmt: skip
        assert r.status_code == 200, r.text
        assert Result.from_json(r.json()).top == _expected(bundle, frame)


def test_errors_keep_their_http_status_behind_ray(
    deployed: tuple[Any, str], bundle: Bundle, frames: list[bytes]
) -> None:
    _, url = deployed
    headers = {"Content-Type": FRAME_TYPE}
    bad = httpx.post(f"{url}/v1/bundles/{bundle.spec.id}/infer", content=b"junk",
                     headers=headers, timeout=30)  # fmt: skip
    assert bad.status_code == 400 and bad.json()["error"] == "bad_frame"
    unknown = httpx.post(f"{url}/v1/bundles/nope/infer", content=frames[0], headers=headers,
                         timeout=30)  # fmt: skip
    assert unknown.status_code == 404
    listing = httpx.get(f"{url}/v1/bundles", timeout=30).json()
    assert [b["id"] for b in listing["bundles"]] == [bundle.spec.id]


def test_bad_deployment_arguments() -> None:
    from splitinfer.errors import BadInput

    with pytest.raises(BadInput):
        ray_serve.deployment([], replicas=1)
    with pytest.raises(BadInput):
        ray_serve.deployment(["/nonexistent/bundle"], replicas=0)
    assert torch.get_num_threads() >= 1


def _infer_200s(text: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "splitinfer_requests_total" and s.labels == {"route": "infer", "status": "200"}
    )


STOP_S = 10.0
"""`serve --ray` must drain and exit within this long of SIGTERM (issue: it took ~60 s)."""


def test_serve_ray_sums_its_replicas_and_stops_soon_after_sigterm(
    bundle_dir: Path, frames: list[bytes]
) -> None:
    """Two replicas: every scrape counts every request; SIGTERM drains, then all stops."""
    port = free_port()
    # The server's metrics directory goes in a temp dir of its own (Ray's stays in /tmp), so
    # other jobs on the machine making theirs cannot confuse the clean-up check.
    private_tmp = Path(tempfile.mkdtemp(prefix="si-ray-"))
    cmd = [sys.executable, "-c", "from splitinfer.cli import main; main()", "serve", "--ray",
           "--replicas", "2", "--cpus-per-replica", "0.5", "--bundle", str(bundle_dir),
           "--port", str(port), "--max-wait-ms", "1500"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("SPLITINFER_TOKEN", MULTIPROC_ENV)}
    env.update(TMPDIR=str(private_tmp), RAY_TMPDIR=os.environ.get("RAY_TMPDIR", "/tmp"))
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}/v1/bundles/{bundle_dir.name}/infer"
    headers = {"Content-Type": FRAME_TYPE}
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                if httpx.post(url, content=frames[0], headers=headers, timeout=60).is_success:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log = proc.stdout.read() if proc.stdout else b""
                pytest.fail(f"serve --ray did not start: {log!r}")
            time.sleep(0.5)

        async def burst() -> list[int]:  # concurrent, so the proxy spreads them over both
            async with httpx.AsyncClient(timeout=60) as client:
                rs = await asyncio.gather(
                    *(client.post(url, content=f, headers=headers) for f in frames * 4)
                )
            return [r.status_code for r in rs]

        codes = asyncio.run(burst())
        assert set(codes) == {200}
        scrapes = [
            _infer_200s(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text)
            for _ in range(4)
        ]
        assert scrapes == [1 + len(codes)] * 4  # the readiness answer, then the burst
        padded = {**headers, "X-Pad": "a" * 200_000}  # Ray's proxy takes it; the replica: 431
        big = httpx.post(url, content=frames[0], headers=padded, timeout=30)
        assert big.status_code == 431
        assert ErrorReply.from_json(big.json()).code == "headers_too_large"
        statuses: list[int] = []
        slow = threading.Thread(  # waits in a replica's batcher (max wait 1.5 s)
            target=lambda: statuses.append(
                httpx.post(url, content=frames[1], headers=headers, timeout=30).status_code
            )
        )
        slow.start()
        time.sleep(0.5)
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        stopped_s = time.monotonic() - start
        slow.join(timeout=30)
        print(f"serve --ray stopped {stopped_s:.1f} s after SIGTERM")
        assert statuses == [200]  # drained: the request in flight was answered
        assert stopped_s < STOP_S, out.decode(errors="replace")[-2000:]
        assert b"Ray Serve shut down" in out, out.decode(errors="replace")[-3000:]
        assert not list(private_tmp.glob("splitinfer-metrics-*"))  # removed on the way out
        time.sleep(1.0)
        with pytest.raises(ProcessLookupError):  # nothing of its session is left running
            os.killpg(proc.pid, 0)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(private_tmp, ignore_errors=True)
