"""HttpTransport and GrpcTransport against a real in-process server: one attempt each,
typed errors, and one gRPC stream answering every request id exactly once."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from splitinfer.bundle import Bundle
from splitinfer.data import synthetic
from splitinfer.edge import CloudRefused, CloudUnavailable, GrpcTransport, HttpTransport, connect
from splitinfer.edge.runner import encode_png
from splitinfer.edge.transport import Reply
from splitinfer.errors import BadInput
from tests.cloud.conftest import CODEC, build
from tests.edge.helpers import TOKEN, FlakyDataPlane, Servers, dead_url, serving

pytestmark = pytest.mark.integration  # starts servers, subprocesses or heavy tools

TRANSPORTS = ("http", "grpc")


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return build("edge-transport", CODEC)


@pytest.fixture(scope="module")
def frames(bundle: Bundle) -> list[bytes]:
    return bundle.edge.encode(synthetic(5, seed=4)[0], first_request_id=40)


@pytest.fixture(scope="module")
def servers(bundle: Bundle) -> Iterator[Servers]:
    with serving(bundle) as s:
        yield s


def expected(bundle: Bundle, frame: bytes) -> int:
    return int(bundle.cloud.decode_and_run(frame).argmax())


@pytest.mark.parametrize(
    ("url", "kind"),
    [("http://127.0.0.1:1", HttpTransport), ("https://example.org", HttpTransport),
     ("grpc://127.0.0.1:1", GrpcTransport), ("GRPC://127.0.0.1:1", GrpcTransport)],
)  # fmt: skip
def test_the_url_scheme_picks_the_transport(url: str, kind: type) -> None:
    t = connect(url, token="x")
    assert isinstance(t, kind) and t.name in ("http", "grpc")
    t.close()


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "ftp://h:1", "grpc://127.0.0.1", "grpc://:5"])
def test_a_url_without_a_usable_scheme_or_port_is_bad_input(url: str) -> None:
    with pytest.raises(BadInput):
        connect(url)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_one_frame_is_answered_like_the_in_process_halves(
    servers: Servers, bundle: Bundle, frames: list[bytes], transport: str
) -> None:
    t = connect(servers.url(transport), token=TOKEN)
    try:
        reply = t.infer_frame(bundle.spec.id, frames[1])
    finally:
        t.close()
    assert reply.request_id == 41 and reply.class_id == expected(bundle, frames[1])
    assert reply.class_name == bundle.spec.classes[reply.class_id]
    assert reply.server_ms > 0 and reply.elapsed_ms >= reply.server_ms and reply.bytes_down > 0


def test_http_sends_the_cloud_only_image_and_grpc_says_it_cannot(
    servers: Servers, bundle: Bundle
) -> None:
    png = encode_png(synthetic(1, seed=5)[0][0])
    with_http = connect(servers.http, token=TOKEN)
    reply = with_http.infer_image(bundle.spec.id, png, request_id=7)
    with_http.close()
    assert reply.request_id == 7 and 0 <= reply.class_id < bundle.spec.num_classes
    with_grpc = connect(servers.grpc, token=TOKEN)
    with pytest.raises(BadInput, match="http"):
        with_grpc.infer_image(bundle.spec.id, png, request_id=7)
    with_grpc.close()


@pytest.mark.parametrize(
    ("transport", "token", "frame", "status", "code"),
    [
        ("http", "wrong", None, 401, "unauthenticated"),
        ("grpc", "wrong", None, "UNAUTHENTICATED", "unauthenticated"),
        ("http", None, None, 401, "unauthenticated"),
        ("grpc", None, None, "UNAUTHENTICATED", "unauthenticated"),
        ("http", TOKEN, b"junk", 400, "bad_frame"),
        ("grpc", TOKEN, b"junk", "INVALID_ARGUMENT", "bad_frame"),
        ("http", TOKEN, b"\0" * 5000, 413, "payload_too_large"),
    ],
)
def test_a_refusal_carries_the_status_and_the_server_code(
    servers: Servers, bundle: Bundle, frames: list[bytes], transport: str,
    token: str | None, frame: bytes | None, status: int | str, code: str,
) -> None:  # fmt: skip
    t = connect(servers.url(transport), token=token)
    with pytest.raises(CloudRefused) as info:
        t.infer_frame(bundle.spec.id, frame or frames[0])
    t.close()
    assert (info.value.status, info.value.server_code) == (status, code)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_nobody_listening_is_unavailable_without_a_status(
    bundle: Bundle, frames: list[bytes], transport: str
) -> None:
    t = connect(dead_url(transport), timeout_s=2)
    with pytest.raises(CloudUnavailable) as info:
        t.infer_frame(bundle.spec.id, frames[0])
    t.close()
    assert info.value.status is None


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_stream_answers_every_request_id_exactly_once(
    servers: Servers, bundle: Bundle, frames: list[bytes], transport: str
) -> None:
    t = connect(servers.url(transport), token=TOKEN)
    pairs = [(40 + i, f) for i, f in enumerate(frames)]
    answers = list(t.stream(bundle.spec.id, pairs))
    t.close()
    assert sorted(rid for rid, _ in answers) == [rid for rid, _ in pairs]
    for rid, reply in answers:
        assert isinstance(reply, Reply) and reply.request_id == rid
        assert reply.class_id == expected(bundle, frames[rid - 40])


def test_a_bad_frame_in_a_stream_fails_alone(
    servers: Servers, bundle: Bundle, frames: list[bytes]
) -> None:
    t = GrpcTransport(servers.grpc, token=TOKEN)
    pairs = [(40, frames[0]), (99, b"not a frame"), (42, frames[2])]
    answers = dict(t.stream(bundle.spec.id, pairs))
    t.close()
    assert set(answers) == {40, 99, 42}
    assert isinstance(answers[99], CloudRefused) and answers[99].server_code == "bad_frame"
    assert isinstance(answers[40], Reply) and isinstance(answers[42], Reply)


def test_a_stream_with_a_wrong_token_is_refused(servers: Servers, frames: list[bytes]) -> None:
    t = GrpcTransport(servers.grpc, token="wrong")
    with pytest.raises(CloudRefused) as info:
        list(t.stream("edge-transport", [(40, frames[0])]))
    t.close()
    assert info.value.status == "UNAUTHENTICATED"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_busy_server_is_unavailable_with_its_status(
    bundle: Bundle, frames: list[bytes], transport: str
) -> None:
    flaky = FlakyDataPlane([bundle], how="overloaded")
    with serving(bundle, dataplane=flaky) as s:
        t = connect(s.url(transport), token=TOKEN)
        with pytest.raises(CloudUnavailable) as info:
            t.infer_frame(bundle.spec.id, frames[0])
        assert info.value.server_code == "overloaded"
        assert info.value.status == (503 if transport == "http" else "UNAVAILABLE")
        streamed = dict(t.stream(bundle.spec.id, [(41, frames[1])]))  # first attempt at 41
        t.close()
    assert isinstance(streamed[41], CloudUnavailable) and streamed[41].server_code == "overloaded"


def test_a_stalled_stream_gives_up_after_the_timeout(bundle: Bundle, frames: list[bytes]) -> None:
    flaky = FlakyDataPlane([bundle], how="stall", stall_s=2.0)
    with serving(bundle, dataplane=flaky) as s:
        t = GrpcTransport(s.grpc, token=TOKEN, timeout_s=0.3)
        with pytest.raises(CloudUnavailable, match=r"within 0\.3 s"):
            list(t.stream(bundle.spec.id, [(40, frames[0])]))
        t.close()


def test_grpcs_refuses_to_skip_certificate_checks() -> None:
    with pytest.raises(BadInput, match="certificate"):
        GrpcTransport("grpcs://127.0.0.1:1", verify=False)


def test_png_round_trips(bundle: Bundle) -> None:
    from splitinfer.cloud.images import decode_image

    image = synthetic(1, seed=9)[0][0]
    assert torch.equal(decode_image(encode_png(image), bundle.spec.input_shape)[0], image)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
def test_tls_with_the_servers_certificate(
    tmp_path: Path, bundle: Bundle, frames: list[bytes]
) -> None:
    from tests.cloud.test_tls import self_signed

    cert, key = self_signed(tmp_path)
    with serving(bundle, tls=(cert, key)) as s:
        for url in (s.http, s.grpc):
            t = connect(url, token=TOKEN, verify=cert)
            assert t.infer_frame(bundle.spec.id, frames[0]).request_id == 40
            t.close()
        untrusted = connect(s.http, token=TOKEN)  # system roots do not know this certificate
        with pytest.raises(CloudUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            untrusted.infer_frame(bundle.spec.id, frames[0])
        untrusted.close()


@pytest.mark.parametrize("transport", ("http", "grpc", "ws"))
def test_a_ping_is_one_round_trip_and_needs_the_server(
    servers: Servers, bundle: Bundle, frames: list[bytes], transport: str
) -> None:
    """HTTP ``GET /healthz``, gRPC ``ListBundles``, a WebSocket ping on an open session
    (a ping opens none: that would cost a hello)."""
    t = connect(servers.url(transport), token=TOKEN)
    try:
        if transport == "ws":
            with pytest.raises(CloudUnavailable, match="no open session"):
                t.ping()
            t.infer_frame(bundle.spec.id, frames[0])
        pings = [t.ping() for _ in range(3)]
    finally:
        t.close()
    assert all(0 < ms < 10_000 for ms in pings)
    if transport != "ws":
        dead = connect(dead_url(transport), timeout_s=2)
        with pytest.raises(CloudUnavailable):
            dead.ping()
        dead.close()
