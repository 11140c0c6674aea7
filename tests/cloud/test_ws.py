"""The stream session at /v1/stream: answers, JSON on request, typed closes for bad
messages, and a bad connection leaving the others whole."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as _connect

from splitinfer import wire
from splitinfer.bundle import Bundle
from splitinfer.protocol import session as s
from tests.cloud.helpers import CAP, TOKEN, running


@pytest.fixture(scope="module")
def url(bundle: Bundle) -> Iterator[str]:
    with running(bundle) as (base, _, _):
        yield "ws" + base.removeprefix("http") + s.PATH


def connect(url: str, **kw: Any) -> Any:
    """A plain client connection (no context manager needed)."""
    return _connect(url, proxy=None, compression=None, legacy=True, **kw)


def payloads(frames: list[bytes]) -> list[bytes]:
    return [wire.decode_frame(f)[1] for f in frames]


def open_session(url: str, bundle: Bundle, token: str | None = TOKEN, **hello: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    ws = connect(url, additional_headers=headers)
    ws.send(s.Hello(bundle.spec.id, bundle.fingerprint, **hello).to_text())
    return ws


def closed_with(ws: ClientConnection) -> tuple[int | None, str]:
    with pytest.raises(ConnectionClosed):
        for _ in range(100):
            ws.recv(timeout=5)
    return ws.close_code, s.reason_code(ws.close_reason or "")


def test_each_payload_is_answered_once_by_its_implied_id(
    url: str, bundle: Bundle, frames: list[bytes]
) -> None:
    expected = [int(bundle.cloud.decode_and_run(f).argmax()) for f in frames]
    with open_session(url, bundle, first_id=7, k=1) as ws:
        ready = json.loads(ws.recv(timeout=5))
        assert ready["op"] == "ready" and ready["k"] == 1
        for p in payloads(frames):
            ws.send(p)
        ws.send(s.seek_text(1000))
        ws.send(payloads(frames)[0])
        got = [wire.decode_session_result(ws.recv(timeout=10)) for _ in range(len(frames) + 1)]
    by_id = {r.request_id: r.class_ids[0] for r in got}
    assert sorted(by_id) == [*range(7, 7 + len(frames)), 1000]
    assert [by_id[7 + i] for i in range(len(frames))] == expected
    assert by_id[1000] == expected[0]


def test_json_results_on_request(url: str, bundle: Bundle, frames: list[bytes]) -> None:
    with open_session(url, bundle, results="json") as ws:
        ws.recv(timeout=5)
        ws.send(payloads(frames)[0])
        msg = json.loads(ws.recv(timeout=10))
    assert msg["request_id"] == 0 and msg["bundle"] == bundle.spec.id and msg["top"]


def test_an_undecodable_payload_is_answered_with_an_error_and_the_session_goes_on(
    url: str, bundle: Bundle, frames: list[bytes]
) -> None:
    with open_session(url, bundle) as ws:
        ws.recv(timeout=5)
        ws.send(b"\x00garbage")
        ws.send(payloads(frames)[0])
        first, second = ws.recv(timeout=10), ws.recv(timeout=10)
    answers = [first, second]
    errors = [json.loads(m) for m in answers if isinstance(m, str)]
    results = [wire.decode_session_result(m) for m in answers if isinstance(m, bytes)]
    assert [(e["op"], e["id"]) for e in errors] == [("error", 0)]
    assert errors[0]["code"] in ("codec_error", "bad_frame")
    assert [r.request_id for r in results] == [1]


BAD_SESSIONS = [
    ("payload first", lambda ws, b: ws.send(b"\x01\x02"), 4409, "out_of_order"),
    ("not json", lambda ws, b: ws.send("{nope"), 4400, "bad_input"),
    ("unknown op", lambda ws, b: ws.send('{"op":"dance"}'), 4409, "out_of_order"),
    ("unknown bundle", lambda ws, b: ws.send(s.Hello("nope").to_text()), 4404, "unknown_bundle"),
    (
        "stale fingerprint",
        lambda ws, b: ws.send(s.Hello(b.spec.id, b.fingerprint ^ 1).to_text()),
        4404,
        "unknown_bundle",
    ),
    ("bad k", lambda ws, b: ws.send(s.Hello(b.spec.id, k=99).to_text()), 4400, "bad_input"),
    (
        "extra field",
        lambda ws, b: ws.send('{"op":"hello","bundle":"x","evil":1}'),
        4400,
        "bad_input",
    ),
]


@pytest.mark.parametrize(
    ("send", "code", "reason"), [c[1:] for c in BAD_SESSIONS], ids=[c[0] for c in BAD_SESSIONS]
)
def test_a_bad_first_message_closes_with_a_typed_code(
    url: str, bundle: Bundle, send: Any, code: int, reason: str
) -> None:
    ws = connect(url, additional_headers={"Authorization": f"Bearer {TOKEN}"})
    send(ws, bundle)
    assert closed_with(ws) == (code, reason)


@pytest.mark.parametrize(
    ("after", "code", "reason"),
    [
        (lambda ws, b: ws.send(s.Hello(b.spec.id).to_text()), 4409, "out_of_order"),
        (lambda ws, b: ws.send(b"x" * (CAP + 1)), 1009, "payload_too_large"),
        (lambda ws, b: ws.send('{"op":"seek","id":-1}'), 4400, "bad_input"),
    ],
    ids=["second hello", "oversized", "bad seek"],
)
def test_a_bad_message_mid_session_closes_after_answering_what_came_before(
    url: str, bundle: Bundle, frames: list[bytes], after: Any, code: int, reason: str
) -> None:
    ws = open_session(url, bundle)
    ws.recv(timeout=5)
    for p in payloads(frames):
        ws.send(p)
    after(ws, bundle)
    answers = []
    with pytest.raises(ConnectionClosed):
        for _ in range(100):
            answers.append(wire.decode_session_result(ws.recv(timeout=10)).request_id)
    assert sorted(answers) == list(range(len(frames)))  # nothing lost, nothing twice
    assert (ws.close_code, s.reason_code(ws.close_reason or "")) == (code, reason)


@pytest.mark.parametrize("token", [None, "wrong"])
def test_no_or_wrong_token_closes_4401(url: str, bundle: Bundle, token: str | None) -> None:
    ws = open_session(url, bundle, token=token)
    assert closed_with(ws) == (4401, "unauthenticated")


def test_the_token_may_come_in_the_hello(url: str, bundle: Bundle, frames: list[bytes]) -> None:
    with connect(url) as ws:
        ws.send(s.Hello(bundle.spec.id, token=TOKEN).to_text())
        assert json.loads(ws.recv(timeout=5))["op"] == "ready"


def test_a_broken_connection_leaves_the_others_whole(
    url: str, bundle: Bundle, frames: list[bytes]
) -> None:
    good = open_session(url, bundle)
    good.recv(timeout=5)
    bad = open_session(url, bundle)
    bad.recv(timeout=5)
    for p in payloads(frames):
        good.send(p)
        bad.send(p)
    bad.send("not json")
    good.send(payloads(frames)[0])
    ids = [
        wire.decode_session_result(good.recv(timeout=10)).request_id for _ in range(len(frames) + 1)
    ]
    assert sorted(ids) == list(range(len(frames) + 1))
    assert closed_with(bad)[0] == 4400
    good.close()
