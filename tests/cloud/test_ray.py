"""The DataPlane as a Ray Serve deployment: one replica on a local Ray, shut down cleanly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch

from splitinfer.bundle import Bundle

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
        assert via_handle["top"][0]["class_id"] == _expected(bundle, frame)
        r = httpx.post(
            f"{url}/v1/bundles/{bundle.spec.id}/infer", content=frame,
            headers={"Content-Type": "application/x-splitinfer-frame"}, timeout=30,
        )  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.json()["top"][0]["class_id"] == _expected(bundle, frame)


def test_errors_keep_their_http_status_behind_ray(
    deployed: tuple[Any, str], bundle: Bundle, frames: list[bytes]
) -> None:
    _, url = deployed
    headers = {"Content-Type": "application/x-splitinfer-frame"}
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
