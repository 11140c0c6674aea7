"""EdgeRunner against a real server: each mode, retries, fallback, refusals."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import torch

from splitinfer.bundle import Bundle
from splitinfer.edge import CloudRefused, CloudUnavailable, EdgeRunner
from splitinfer.errors import BadInput
from splitinfer.train.data import synthetic
from tests.cloud.conftest import CODEC, build
from tests.cloud.helpers import TOKEN, running


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return build("edge-test", CODEC)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return synthetic(6, seed=3)[0]


@pytest.fixture(scope="module")
def server(bundle: Bundle) -> Iterator[str]:
    with running(bundle) as (url, _dp, _server):
        yield url


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"  # closed again: nobody listens


def test_split_mode_matches_the_in_process_halves(
    server: str, bundle: Bundle, images: torch.Tensor
) -> None:
    with EdgeRunner(bundle, server, token=TOKEN) as runner:
        for i, image in enumerate(images):
            r = runner.infer(image)
            expected = int(bundle.cloud.decode_and_run(bundle.edge.encode(image[None])[0]).argmax())
            assert (r.mode, r.prediction, r.request_id) == ("split", expected, i)
            assert r.bytes_up == len(bundle.edge.encode(image[None])[0]) and r.bytes_down > 0
            assert r.head_ms > 0 and r.encode_ms > 0 and r.server_ms > 0 and r.attempts == 1
            assert r.total_ms >= r.head_ms + r.encode_ms


def test_cloud_only_and_mobile_only_agree_with_the_full_model(
    server: str, bundle: Bundle, images: torch.Tensor
) -> None:
    with torch.no_grad():
        full = bundle.full(bundle.spec.preprocess(images)).argmax(1).tolist()
    with EdgeRunner(bundle, server, token=TOKEN) as runner:
        cloud = [runner.infer(im, "cloud-only") for im in images]
        local = [runner.infer(im, "mobile-only") for im in images]
    assert [r.prediction for r in cloud] == full == [r.prediction for r in local]
    with EdgeRunner(bundle, server, token=TOKEN) as runner:
        split = [runner.infer(im).prediction for im in images]
    assert split == full  # element-wise quantizer + lossless coder: the same network
    assert all(r.bytes_up > 0 for r in cloud) and all(r.bytes_up == 0 for r in local)


def test_unreachable_server_falls_back_and_says_so(bundle: Bundle, images: torch.Tensor) -> None:
    with EdgeRunner(bundle, _dead_url(), retries=1, timeout_s=2) as runner:
        r = runner.infer(images[0])
    assert r.fell_back and r.mode == "mobile-only" and r.attempts == 2 and len(r.errors) == 2
    with torch.no_grad():
        assert r.prediction == int(bundle.full(bundle.spec.preprocess(images[:1])).argmax())


def test_without_fallback_an_unreachable_server_is_an_error(
    bundle: Bundle, images: torch.Tensor
) -> None:
    runner = EdgeRunner(bundle, _dead_url(), retries=0, fallback=False)
    with runner, pytest.raises(CloudUnavailable):
        runner.infer(images[0])


def test_a_refusal_is_raised_not_retried(server: str, bundle: Bundle, images: torch.Tensor) -> None:
    runner = EdgeRunner(bundle, server, token="wrong")
    with runner, pytest.raises(CloudRefused) as info:
        runner.infer(images[0])
    assert info.value.status == 401 and info.value.server_code == "unauthenticated"


def test_bad_arguments(bundle: Bundle, images: torch.Tensor) -> None:
    with pytest.raises(BadInput):
        EdgeRunner(bundle, None, retries=-1)
    with EdgeRunner(bundle, None) as runner:
        with pytest.raises(BadInput):
            runner.infer(images[0], "teleport")  # type: ignore[arg-type]
        with pytest.raises(BadInput):
            runner.infer(images[:2])
        assert runner.infer(images[0]).mode == "mobile-only"  # no server: local only
