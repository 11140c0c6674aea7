"""EdgeRunner against a real server over HTTP and gRPC: each mode, streams, retries that
count once, fallback, refusals, engines and bad input."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Sequence

import pytest
import torch

from splitinfer.bundle import Bundle
from splitinfer.data import synthetic
from splitinfer.edge import CloudRefused, CloudUnavailable, EdgeRunner, connect
from splitinfer.edge.stream import run_stream
from splitinfer.edge.transport import Answers
from splitinfer.errors import BadInput
from tests.cloud.conftest import CODEC, build
from tests.edge.helpers import TOKEN, FlakyDataPlane, Servers, dead_url, serving

pytestmark = pytest.mark.integration  # starts servers, subprocesses or heavy tools

TRANSPORTS = ("http", "grpc", "ws")


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return build("edge-test", CODEC)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return synthetic(6, seed=3)[0]


@pytest.fixture(scope="module")
def servers(bundle: Bundle) -> Iterator[Servers]:
    with serving(bundle) as s:
        yield s


@pytest.fixture(scope="module")
def full(bundle: Bundle, images: torch.Tensor) -> list[int]:
    """The bundle's whole network here: what every mode should predict."""
    with torch.no_grad():
        out: list[int] = bundle.full(bundle.spec.preprocess(images)).argmax(1).tolist()
    return out


def split_expected(bundle: Bundle, image: torch.Tensor) -> int:
    return int(bundle.cloud.decode_and_run(bundle.edge.encode(image[None])[0]).argmax())


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_split_mode_matches_the_in_process_halves(
    servers: Servers, bundle: Bundle, images: torch.Tensor, transport: str
) -> None:
    with EdgeRunner(bundle, servers.url(transport), token=TOKEN) as runner:
        for i, image in enumerate(images):
            r = runner.infer(image)
            assert (r.mode, r.prediction, r.request_id) == (
                "split",
                split_expected(bundle, image),
                i,
            )
            assert r.transport == transport and r.label == bundle.spec.classes[r.prediction]
            assert r.bytes_up == len(bundle.edge.encode(image[None])[0]) and r.bytes_down > 0
            assert r.head_ms > 0 and r.encode_ms > 0 and r.attempts == 1
            assert r.server_ms > 0 or transport == "ws"  # binary session results carry no timing
            assert r.total_ms >= r.head_ms + r.encode_ms and not r.fell_back and not r.errors


def test_cloud_only_and_mobile_only_agree_with_the_full_model(
    servers: Servers, bundle: Bundle, images: torch.Tensor, full: list[int]
) -> None:
    with EdgeRunner(bundle, servers.http, token=TOKEN) as runner:
        cloud = runner.infer_many(images, "cloud-only")
        local = runner.infer_many(images, "mobile-only")
    assert [r.prediction for r in cloud] == full == [r.prediction for r in local]
    assert all(r.bytes_up > 0 and r.transport == "http" and r.head_ms > 0 for r in cloud)
    assert all(r.bytes_up == 0 and r.transport == "local" and r.attempts == 0 for r in local)
    with EdgeRunner(bundle, servers.grpc, token=TOKEN) as runner:
        assert [r.prediction for r in runner.infer_many(images)] == full  # lossless coder
        assert runner.modes == ("split", "mobile-only")
        with pytest.raises(BadInput, match="http"):
            runner.infer(images[0], "cloud-only")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_stream_answers_every_image_exactly_once(
    servers: Servers, bundle: Bundle, images: torch.Tensor, full: list[int], transport: str
) -> None:
    with EdgeRunner(bundle, servers.url(transport), token=TOKEN) as runner:
        runner.infer(images[0])  # ids need not start at 0
        seen = list(runner.stream(images, stream=True))
    assert sorted(i for i, _ in seen) == list(range(len(images)))
    results = [r for _, r in sorted(seen, key=lambda p: p[0])]
    assert [r.prediction for r in results] == full
    assert len({r.request_id for r in results}) == len(images)
    assert all(r.mode == "split" and r.attempts == 1 and r.network_ms >= 0 for r in results)
    assert all(r.total_ms >= r.head_ms + r.encode_ms + r.server_ms for r in results)


class DoubleAnswers:
    """A real transport whose streams deliver every answer twice."""

    def __init__(self, url: str) -> None:
        self.inner = connect(url, token=TOKEN)
        self.name, self.url, self.sends_images = "grpc", url, False

    def infer_frame(self, bundle_id: str, frame: bytes) -> object:
        return self.inner.infer_frame(bundle_id, frame)

    def infer_image(self, bundle_id: str, image: bytes, request_id: int) -> object:
        raise AssertionError("not used")

    def stream(self, bundle_id: str, frames: Sequence[tuple[int, bytes]]) -> Answers:
        for answer in self.inner.stream(bundle_id, frames):
            yield answer
            yield answer

    def close(self) -> None:
        self.inner.close()


def test_a_duplicated_answer_counts_once(
    servers: Servers, bundle: Bundle, images: torch.Tensor
) -> None:
    transport = DoubleAnswers(servers.grpc)
    runner = EdgeRunner(bundle, transport, token=TOKEN)  # type: ignore[arg-type]
    summary = run_stream(runner, images, None, "split", stream=True)
    transport.close()
    assert summary.to_json()["images"] == len(images) and summary.duplicates == 0


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_retried_request_is_answered_and_counted_once(
    bundle: Bundle, images: torch.Tensor, full: list[int], transport: str, stream: bool
) -> None:
    flaky = FlakyDataPlane([bundle], how="overloaded")
    with (
        serving(bundle, dataplane=flaky) as s,
        EdgeRunner(bundle, s.url(transport), token=TOKEN, retries=1) as runner,
    ):
        summary = run_stream(runner, images[:4], torch.tensor(full[:4]), "split", stream=stream)
    data = summary.to_json()
    assert data["images"] == 4 and data["retries"] == 4 and data["fallbacks"] == 0
    assert data["accuracy"] == 1.0 and summary.duplicates == 0
    assert all(r.attempts == 2 and len(r.errors) == 1 for r in summary.results)
    assert sorted(flaky.seen.values()) == [2] * 4  # the server saw every id twice


@pytest.mark.parametrize(
    ("transport", "stream"), [("http", False), ("grpc", False), ("grpc", True)]
)
def test_an_answer_too_late_is_retried_not_double_counted(
    bundle: Bundle, images: torch.Tensor, transport: str, stream: bool
) -> None:
    flaky = FlakyDataPlane([bundle], how="stall", stall_s=1.0)
    with (
        serving(bundle, dataplane=flaky) as s,
        EdgeRunner(bundle, s.url(transport), token=TOKEN, retries=1, timeout_s=0.3) as runner,
    ):
        results = runner.infer_many(images[:2], stream=stream)
    assert [r.attempts for r in results] == [2, 2] and not any(r.fell_back for r in results)
    assert [r.request_id for r in results] == [0, 1]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_unreachable_server_falls_back_and_says_so(
    bundle: Bundle, images: torch.Tensor, full: list[int], transport: str, stream: bool
) -> None:
    with EdgeRunner(bundle, dead_url(transport), retries=1, timeout_s=2) as runner:
        results = runner.infer_many(images[:3], stream=stream)
    assert [r.prediction for r in results] == full[:3]
    for r in results:
        assert r.fell_back and r.mode == "mobile-only" and r.attempts == 2 and len(r.errors) == 2


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_without_fallback_an_unreachable_server_is_an_error(
    bundle: Bundle, images: torch.Tensor, transport: str, stream: bool
) -> None:
    runner = EdgeRunner(bundle, dead_url(transport), retries=0, fallback=False)
    with runner, pytest.raises(CloudUnavailable):
        runner.infer_many(images[:2], stream=stream)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_refusal_is_raised_not_retried(
    servers: Servers, bundle: Bundle, images: torch.Tensor, transport: str, stream: bool
) -> None:
    runner = EdgeRunner(bundle, servers.url(transport), token="wrong")
    with runner, pytest.raises(CloudRefused) as info:
        runner.infer_many(images[:2], stream=stream)
    assert info.value.server_code == "unauthenticated"
    status = {"http": 401, "grpc": "UNAUTHENTICATED", "ws": 4401}[transport]
    assert info.value.status == status


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_bundle_the_server_does_not_serve_is_refused(
    servers: Servers, images: torch.Tensor, transport: str
) -> None:
    other = build("edge-other", CODEC, seed=1)
    runner = EdgeRunner(other, servers.url(transport), token=TOKEN)
    with runner, pytest.raises(CloudRefused) as info:
        runner.infer(images[0])
    assert info.value.server_code == "unknown_bundle"


class CountingEngine:
    """An EdgeEngine that is the torch edge half, counting its calls."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle, self.calls = bundle, 0

    def features(self, images_u8: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.bundle.edge.features(images_u8)


def test_any_object_with_features_is_an_engine(
    servers: Servers, bundle: Bundle, images: torch.Tensor, full: list[int]
) -> None:
    engine = CountingEngine(bundle)
    with EdgeRunner(bundle, servers.grpc, token=TOKEN, engine=engine) as runner:
        assert [r.prediction for r in runner.infer_many(images)] == full
        assert runner.engine_name == "CountingEngine"
    assert engine.calls == len(images)
    with pytest.raises(BadInput):
        EdgeRunner(bundle, None, engine=object())  # type: ignore[arg-type]
    with pytest.raises(BadInput):
        EdgeRunner(bundle, None, engine="tensorrt")


@pytest.mark.skipif(
    importlib.util.find_spec("splitinfer.edge.onnx") is None
    or importlib.util.find_spec("onnxruntime") is None,
    reason="splitinfer.edge.onnx / onnxruntime not available",
)
def test_the_onnx_engine_runs_the_edge_half(
    servers: Servers, bundle: Bundle, images: torch.Tensor
) -> None:
    with EdgeRunner(bundle, servers.http, token=TOKEN, engine="onnx") as runner:
        assert runner.engine_name == "onnx"
        z = runner.engine.features(images)
        assert torch.allclose(z, bundle.edge.features(images), atol=1e-4)
        r = runner.infer(images[0])
    assert r.mode == "split" and r.attempts == 1 and r.head_ms > 0


def test_bad_input_is_a_typed_error(bundle: Bundle, images: torch.Tensor) -> None:
    with pytest.raises(BadInput):
        EdgeRunner(bundle, None, retries=-1)
    with pytest.raises(BadInput):
        EdgeRunner(bundle, "127.0.0.1:8000")  # no scheme
    with EdgeRunner(bundle, None) as runner:
        for bad in (images[:2], images[0].float(), images[0, :, :14], images[0, 0], [1, 2]):
            with pytest.raises(BadInput):
                runner.infer(bad)  # type: ignore[arg-type]
        with pytest.raises(BadInput):
            runner.infer(images[0], "teleport")  # type: ignore[arg-type]
        with pytest.raises(BadInput, match="plan_auto"):
            runner.infer(images[0], "auto")
        with pytest.raises(BadInput):
            runner.infer_many(images[:, :, :14])
        r = runner.infer(images[0])
        assert r.mode == "mobile-only" and r.transport == "local"  # no server: local only
