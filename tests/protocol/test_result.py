"""The typed Result: JSON, proto and binary-frame converters round-trip; bad replies refuse."""

from __future__ import annotations

import pytest

from splitinfer import wire
from splitinfer.errors import BadFrame
from splitinfer.protocol import ErrorReply, Result, Timing

TIMING = Timing(queue_ms=1.25, decode_ms=0.5, compute_ms=3.0, total_ms=4.75, batch_size=3)
RESULT = Result(
    request_id=7,
    bundle_id="fmnist-test",
    class_ids=(3, 1),
    classes=("dress", "trouser"),
    scores=(0.75, 0.125),  # exact in float32, so the proto and frame keep them
    timing=TIMING,
)


def test_json_round_trip() -> None:
    data = RESULT.to_json()
    assert data["top"][0] == {"class_id": 3, "class": "dress", "score": 0.75}
    assert Result.from_json(data) == RESULT
    assert RESULT.top == 3 and RESULT.top_name == "dress" and RESULT.timed == TIMING


def test_proto_round_trip() -> None:
    pytest.importorskip("google.protobuf")
    message = RESULT.to_proto(sequence=4)
    assert message.sequence == 4 and message.top[1].class_name == "trouser"
    assert Result.from_proto(message) == RESULT
    untimed = Result.from_proto(Result(1, "b", (0,), ("x",), (1.0,), None).to_proto())
    assert untimed.timing is None


def test_frame_round_trip_keeps_what_a_frame_holds() -> None:
    frame = RESULT.to_frame()
    assert frame == wire.encode_result(wire.TopK(7, (3, 1), (0.75, 0.125)))
    back = Result.from_frame(frame)
    assert (back.request_id, back.class_ids, back.scores) == (7, (3, 1), (0.75, 0.125))
    assert back.classes == () and back.timing is None and back.top_name == "3"
    names = ("t-shirt", "trouser", "pullover", "dress")
    named = Result.from_frame(frame, bundle_id="fmnist-test", class_names=names)
    assert named.classes == ("dress", "trouser") and named.bundle_id == "fmnist-test"
    with pytest.raises(BadFrame, match="beyond"):
        Result.from_frame(frame, class_names=names[:2])
    with pytest.raises(BadFrame, match="no timing"):
        back.timed  # noqa: B018


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {"request_id": 1},  # no top
        {"request_id": "1", "top": []},
        {"request_id": 1, "top": [{"class_id": 2}]},  # no score
        {"request_id": 1, "top": [{"class_id": True, "score": 1.0}]},
        {"request_id": 1, "top": [], "timing": {"total_ms": 1}},
        {"request_id": 1, "top": [], "bundle": 5},
    ],
)
def test_a_reply_that_is_not_a_result_is_refused(data: object) -> None:
    with pytest.raises(BadFrame):
        Result.from_json(data)


def test_an_empty_result_has_no_top() -> None:
    empty = Result.from_json({"request_id": 1, "top": []})
    with pytest.raises(BadFrame, match="no classes"):
        empty.top  # noqa: B018


def test_error_reply() -> None:
    err = ErrorReply("overloaded", "busy")
    assert ErrorReply.from_json(err.to_json()) == err
    assert ErrorReply.from_json(None, "<html>") == ErrorReply("?", "<html>")
