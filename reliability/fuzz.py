"""Hostile input against a running server: fuzzed frames, bombs and oversized bodies.

    python -m reliability.fuzz      # 100,000 frames over HTTP, 10,000 over gRPC, 10,000 WebSocket
    python -m reliability.fuzz --http 5000 --grpc 500 --seed 7

Inputs: the golden frames of ``tests/wire/golden`` and real frames of the served bundle
(compact, and described with the bundle's fingerprint), mutated at the wire level (bit
flips, boundary bytes, truncation, extension, insertion / deletion, splicing; half of them
resealed with a correct CRC so the parsers behind it run) or at the payload level (a real
frame's payload mutated, then framed correctly, so the bundle's codec decodes it), plus
random byte strings. Every reply must be a 200 (a mutation that happens to be valid:
counted) or a typed error: over HTTP a JSON ``{"error", "message"}`` whose status is the
one :data:`~splitinfer.protocol.HTTP_STATUS` gives its code, below 500; over gRPC
a status from the gRPC table (unary) or a per-frame ``error`` (stream). No 5xx, no dropped
connection, no dead server; the server's peak RSS (VmHWM) may grow by a margin only.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import random
import sys
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import torch

from reliability.load import machine, write_report
from splitinfer import wire
from splitinfer.errors import BadFrame, SplitInferError
from splitinfer.harness import rawhttp
from splitinfer.harness import server as srv
from splitinfer.harness.load import grpc_channel
from splitinfer.harness.workload import Workload, load_workload
from splitinfer.protocol import FRAME_TYPE, HTTP_STATUS, Result, session

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "tests" / "wire" / "golden"
BOUNDARY = (0x00, 0x01, 0x7F, 0x80, 0xFF)
GRPC_INPUT_CODES = ("INVALID_ARGUMENT", "NOT_FOUND", "RESOURCE_EXHAUSTED")
"""gRPC statuses a bad frame may get (the table's codes for bad input)."""
STREAM_INPUT_CODES = tuple(c for c, s in HTTP_STATUS.items() if 400 <= s < 500 and s != 401)
"""Per-frame error codes a bad frame may get in a stream."""


# --- inputs ----------------------------------------------------------------------------------


def described_frame(workload: Workload, request_id: int) -> bytes:
    """A described frame (HAS_BUNDLE) that says exactly what the bundle decodes."""
    b = workload.bundle
    header = wire.FrameHeader(
        request_id=request_id,
        bundle=b.fingerprint,
        codec_spec=b.spec.codec,
        shape=b.feature_shape,
        dtype="float32",
    )
    return wire.encode_frame(header, workload.payloads[request_id % len(workload)])


def seed_corpus(workload: Workload) -> list[bytes]:
    """Golden frames + real compact and described frames of the served bundle."""
    golden = [p.read_bytes() for p in sorted(GOLDEN_DIR.glob("*.bin"))]
    real = [workload.frame(i) for i in range(min(32, len(workload)))]
    described = [described_frame(workload, i) for i in range(min(8, len(workload)))]
    return golden + real + described


def _mutate(rng: random.Random, buf: bytearray, corpus: list[bytes]) -> None:
    """One wire-level mutation of ``buf`` in place."""
    op = rng.randrange(6)
    if op == 0:
        for _ in range(rng.randint(1, 4)):
            if buf:
                buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    elif op == 1 and buf:
        buf[rng.randrange(len(buf))] = rng.choice(BOUNDARY)
    elif op == 2:
        del buf[rng.randrange(len(buf) + 1) :]
    elif op == 3:
        buf += rng.randbytes(rng.randint(1, 16))
    elif op == 4:
        i = rng.randrange(len(buf) + 1)
        if rng.random() < 0.5 and i < len(buf):
            del buf[i]
        else:
            buf[i:i] = bytes((rng.choice(BOUNDARY),))
    else:
        other = rng.choice(corpus)
        buf[rng.randrange(len(buf) + 1) :] = other[rng.randrange(len(other) + 1) :]


def mutant(rng: random.Random, corpus: list[bytes], workload: Workload) -> tuple[str, bytes]:
    """(kind, input): random bytes, a wire-level mutant, or a payload-level mutant."""
    roll = rng.random()
    if roll < 0.05:
        return "random", rng.randbytes(rng.randint(0, 96))
    if roll < 0.10:
        prefix = wire.MAGIC + bytes((1, rng.choice((1, 2, 3, 0x12))))
        return "random-after-prefix", prefix + rng.randbytes(rng.randint(0, 96))
    if roll < 0.50:  # the payload of a real frame, mutated and framed correctly
        payload = bytearray(workload.payloads[rng.randrange(len(workload))])
        for _ in range(rng.randint(1, 3)):
            _mutate(rng, payload, workload.payloads)
        header = wire.FrameHeader(
            request_id=rng.randrange(2**32), bundle=workload.bundle.fingerprint
        )
        return "payload", wire.encode_frame(header, bytes(payload[: wire.MAX_PAYLOAD_BYTES]))
    buf = bytearray(rng.choice(corpus))
    for _ in range(rng.randint(1, 3)):
        _mutate(rng, buf, corpus)
    if rng.random() < 0.5 and len(buf) >= 8:
        buf[-4:] = zlib.crc32(buf[:-4]).to_bytes(4, "big")
        return "wire-resealed", bytes(buf)
    return "wire", bytes(buf)


def inputs(n: int, seed: int, workload: Workload) -> Iterator[tuple[str, bytes]]:
    """``n`` fuzz inputs, reproducible from ``seed``."""
    rng = random.Random(seed)
    corpus = seed_corpus(workload)
    for _ in range(n):
        yield mutant(rng, corpus, workload)


# --- judging replies -------------------------------------------------------------------------


@dataclass
class FuzzReport:
    """How the server answered one fuzz run."""

    transport: str
    inputs: int
    accepted: int  # 200 / OK: the mutation happened to be a valid frame
    by_answer: dict[str, int]
    by_kind: dict[str, int]
    failures: int
    failure_samples: list[str]
    seconds: float
    alive_after: bool = True
    rss_before_kb: int = 0
    rss_after_kb: int = 0
    rss_max_kb: int = 0
    hwm_before_kb: int = 0
    hwm_after_kb: int = 0

    @property
    def passed(self) -> bool:
        return self.failures == 0 and self.alive_after

    def line(self) -> str:
        return (
            f"{self.transport:>11}: {self.inputs:,} fuzzed frames in {self.seconds:.1f} s; "
            f"accepted (valid mutants) {self.accepted:,}, typed refusals "
            f"{self.inputs - self.accepted - self.failures:,}, failures {self.failures}; "
            f"alive {self.alive_after}; RSS {self.rss_before_kb / 1024:.0f} -> "
            f"{self.rss_after_kb / 1024:.0f} MB (max {self.rss_max_kb / 1024:.0f}), "
            f"peak {self.hwm_before_kb / 1024:.0f} -> {self.hwm_after_kb / 1024:.0f} MB"
        )


@dataclass
class _Tally:
    by_answer: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    accepted: int = 0
    failures: int = 0
    samples: list[str] = field(default_factory=list)

    def fail(self, kind: str, data: bytes, what: str) -> None:
        self.failures += 1
        self.by_answer[f"FAIL {what[:80]}"] += 1
        if len(self.samples) < 20:
            self.samples.append(f"{kind} {data.hex()}: {what[:300]}")


def judge_http(status: int, body: bytes) -> str:
    """The answer's label (``"200 accepted"``, ``"400 bad_frame"``); ValueError if untyped."""
    try:
        data = json.loads(body)
    except ValueError:
        raise ValueError(f"{status} with a non-JSON body {body[:100]!r}") from None
    if status == 200:
        try:
            Result.from_json(data)
        except BadFrame as err:
            raise ValueError(f"200 without a result ({err}): {body[:100]!r}") from None
        return "200 accepted"
    if not isinstance(data, dict) or not isinstance(data.get("message"), str):
        raise ValueError(f"{status} without a typed error body: {body[:100]!r}")
    code = data.get("error")
    if not isinstance(code, str) or HTTP_STATUS.get(code) != status or status >= 500:
        raise ValueError(f"{status} with error code {code!r}: {data.get('message', '')[:100]}")
    return f"{status} {code}"


async def _sample(server: srv.Endpoint, out: list[int]) -> None:
    while True:
        out.append(server.rss_kb())
        await asyncio.sleep(0.5)


async def _measured(
    server: srv.Endpoint, transport: str, work: Any, n: int, tally: _Tally
) -> FuzzReport:
    """Run ``work`` (a coroutine feeding ``tally``) while sampling the server's memory."""
    samples: list[int] = []
    rss0, hwm0 = server.rss_kb(), server.hwm_kb()
    sampler = asyncio.ensure_future(_sample(server, samples))
    start = time.perf_counter()
    try:
        await work
    finally:
        sampler.cancel()
    seconds = time.perf_counter() - start
    alive = server.alive() and _healthy(server)
    return FuzzReport(
        transport=transport,
        inputs=n,
        accepted=tally.accepted,
        by_answer=dict(tally.by_answer.most_common()),
        by_kind=dict(tally.by_kind),
        failures=tally.failures,
        failure_samples=tally.samples,
        seconds=round(seconds, 2),
        alive_after=alive,
        rss_before_kb=rss0,
        rss_after_kb=server.rss_kb(),
        rss_max_kb=max(samples, default=0),
        hwm_before_kb=hwm0,
        hwm_after_kb=server.hwm_kb(),
    )


def _healthy(server: srv.Endpoint) -> bool:
    try:
        return httpx.get(f"{server.url}/healthz", verify=server.verify(), timeout=10).is_success
    except httpx.HTTPError:
        return False


# --- the transports --------------------------------------------------------------------------


async def fuzz_http(
    server: srv.Endpoint, workload: Workload, n: int, seed: int = 1, concurrency: int = 16
) -> FuzzReport:
    """POST ``n`` fuzz inputs to the bundle's infer route, ``concurrency`` at a time."""
    tally = _Tally()
    source = inputs(n, seed, workload)
    verify = server.verify() if server.tls_cert else False

    async def client() -> None:
        async with httpx.AsyncClient(
            base_url=server.url, headers=server.headers, verify=verify, timeout=60
        ) as c:
            for kind, data in source:
                tally.by_kind[kind] += 1
                try:
                    r = await c.post(workload.infer_path, content=data)
                    label = judge_http(r.status_code, r.content)
                except (httpx.HTTPError, ValueError) as err:
                    tally.fail(kind, data, f"{type(err).__name__}: {err}")
                    continue
                tally.by_answer[label] += 1
                tally.accepted += label.startswith("200")

    work = asyncio.gather(*(client() for _ in range(concurrency)))
    return await _measured(server, "http", work, n, tally)


async def fuzz_grpc(
    server: srv.Endpoint, workload: Workload, n: int, seed: int = 2, concurrency: int = 8
) -> FuzzReport:
    """Half of ``n`` inputs as unary ``Infer`` calls, half through ``InferStream``s."""
    import grpc

    from splitinfer.protocol.pb import splitinfer_pb2 as pb
    from splitinfer.protocol.pb import splitinfer_pb2_grpc as pb_grpc

    tally = _Tally()
    source = inputs(n, seed, workload)
    unary_left = n // 2
    channel = grpc_channel(server.grpc_target, server.tls_cert)
    stub = pb_grpc.SplitInferenceStub(channel)
    md = server.grpc_metadata

    async def unary() -> None:
        nonlocal unary_left
        while unary_left > 0:
            unary_left -= 1
            kind, data = next(source)
            tally.by_kind[kind] += 1
            try:
                reply = await stub.Infer(pb.InferRequest(frame=data), metadata=md, timeout=60)
            except grpc.aio.AioRpcError as err:
                name, details = err.code().name, err.details() or ""
                if name in GRPC_INPUT_CODES and details.startswith("["):
                    tally.by_answer[f"{name} {details[1:].split(']')[0]}"] += 1
                else:
                    tally.fail(kind, data, f"{name}: {details}")
                continue
            tally.by_answer["OK accepted"] += 1
            tally.accepted += 1
            if not reply.top:
                tally.fail(kind, data, "OK without a result")

    async def stream() -> None:
        batch = [item for item in source]  # what is left after the unary half
        for start in range(0, len(batch), 500):  # a fresh stream per 500 frames
            chunk = batch[start : start + 500]
            call = stub.InferStream(metadata=md)
            for seq, (kind, data) in enumerate(chunk):
                tally.by_kind[kind] += 1
                try:
                    await call.write(pb.InferRequest(frame=data))
                    reply = await call.read()
                except grpc.aio.AioRpcError as err:
                    tally.fail(kind, data, f"stream ended: {err.code().name} {err.details()}")
                    return
                if reply is grpc.aio.EOF or reply.sequence != seq:
                    tally.fail(kind, data, "stream reply missing or out of order")
                    return
                if not reply.HasField("error"):
                    tally.by_answer["stream accepted"] += 1
                    tally.accepted += 1
                elif reply.error.code in STREAM_INPUT_CODES:
                    tally.by_answer[f"stream {reply.error.code}"] += 1
                else:
                    tally.fail(
                        kind, data, f"stream error {reply.error.code}: {reply.error.message}"
                    )
            await call.done_writing()

    async def work() -> None:
        await asyncio.gather(*(unary() for _ in range(concurrency)))
        await stream()

    try:
        return await _measured(server, "grpc", work(), n, tally)
    finally:
        await channel.close()


WS_SESSION_CLOSES = frozenset(c for c in session.CLOSE_CODES.values() if c != 1013)
"""Close codes a bad session message may get (the table's codes for bad input)."""
WS_BATCH = 50  # payload mutants per session


def session_mutant(rng: random.Random, workload: Workload) -> str | bytes:
    """A message the session must refuse or take: a mutated hello or control, or bytes."""
    b = workload.bundle
    texts = [
        session.Hello(b.spec.id, b.fingerprint).to_text(),
        session.seek_text(rng.randrange(2**32)),
        f'{{"op":"hello","bundle":"{b.spec.id}","k":3}}',
    ]
    roll = rng.random()
    if roll < 0.2:
        return rng.randbytes(rng.randint(0, 64))
    text = bytearray(rng.choice(texts).encode())
    for _ in range(rng.randint(1, 3)):
        _mutate(rng, text, [t.encode() for t in texts])
    return bytes(text).decode("utf-8", "replace")


async def fuzz_ws(
    server: srv.Endpoint, workload: Workload, n: int, seed: int = 3, concurrency: int = 4
) -> FuzzReport:
    """``n`` WebSocket messages: mutated payloads inside valid sessions (each id answered
    once, by a result or a typed error) and mutated session messages (a typed close, or a
    ready when the mutation happens to be a valid hello)."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    tally = _Tally()
    rng = random.Random(seed)
    corpus = seed_corpus(workload)
    left = n
    url = server.url.replace("http", "ws", 1) + session.PATH
    headers = {"Authorization": f"Bearer {server.token}"} if server.token else {}
    hello = session.Hello(workload.bundle_id, workload.bundle.fingerprint).to_text()

    async def refused(kind: str, message: str | bytes) -> None:
        tally.by_kind[kind] += 1
        data = message.encode() if isinstance(message, str) else message
        async with connect(url, additional_headers=headers, compression=None, proxy=None) as ws:
            await ws.send(message)
            try:
                reply = await asyncio.wait_for(ws.recv(), 30)
            except ConnectionClosed:
                code = ws.close_code
                reason = session.reason_code(ws.close_reason or "")
                if code in WS_SESSION_CLOSES and reason in session.CLOSE_CODES:
                    tally.by_answer[f"close {code} {reason}"] += 1
                else:
                    tally.fail(kind, data, f"close {code} {ws.close_reason!r}")
                return
            if isinstance(reply, str) and json.loads(reply).get("op") == "ready":
                tally.by_answer["ready (valid mutant)"] += 1
                tally.accepted += 1
            else:
                tally.fail(kind, data, f"answer to a bad first message: {reply!r:.80}")

    async def batch(items: list[tuple[str, bytes]], bad: str | bytes | None = None) -> None:
        """Payloads in one session; with ``bad`` (a message the session cannot take) sent
        after them: every payload answered once, then a typed close."""
        async with connect(url, additional_headers=headers, compression=None, proxy=None) as ws:
            await ws.send(hello)
            await ws.recv()
            for _, payload in items:
                await ws.send(payload)
            if bad is not None:
                tally.by_kind["mid-session"] += 1
                await ws.send(bad)
            answered: Counter[int] = Counter()
            for _ in items:
                try:
                    reply = await asyncio.wait_for(ws.recv(), 60)
                except (ConnectionClosed, asyncio.TimeoutError) as err:
                    tally.fail("payload", b"", f"session ended early: {err!r}")
                    return
                if isinstance(reply, bytes):
                    answered[wire.decode_session_result(reply).request_id] += 1
                    tally.by_answer["result (valid mutant)"] += 1
                    tally.accepted += 1
                    continue
                msg = json.loads(reply)
                answered[int(msg["id"])] += 1
                if msg.get("code") in (*STREAM_INPUT_CODES, "overloaded"):  # typed, retryable
                    tally.by_answer[f"error {msg['code']}"] += 1
                else:
                    tally.fail("payload", b"", f"untyped error {msg!r:.120}")
            if items and (
                sorted(answered) != list(range(len(items))) or max(answered.values()) != 1
            ):
                tally.fail("payload", b"", f"ids not answered once each: {dict(answered)}")
            if bad is not None:
                await closed_after(ws, bad)

    async def closed_after(ws: Any, bad: str | bytes) -> None:
        data = bad.encode() if isinstance(bad, str) else bad
        try:
            extra = await asyncio.wait_for(ws.recv(), 30)
            tally.fail("mid-session", data, f"an answer after the bad message: {extra!r:.80}")
        except ConnectionClosed:
            code, reason = ws.close_code, session.reason_code(ws.close_reason or "")
            if code in WS_SESSION_CLOSES and reason in session.CLOSE_CODES:
                tally.by_answer[f"close {code} {reason} (mid-session)"] += 1
            else:
                tally.fail("mid-session", data, f"close {code} {ws.close_reason!r}")
        except asyncio.TimeoutError:
            tally.fail("mid-session", data, "no close after a bad message")

    def mid_session_mutant() -> str | bytes:
        """A session mutant that is not a valid control (a valid seek would go on)."""
        while True:
            bad = session_mutant(rng, workload)
            if isinstance(bad, bytes):
                continue  # a binary message is just another payload
            try:
                msg = session.parse_control(bad)
                if msg["op"] == "seek":
                    session.parse_seek(msg)
                    continue
            except SplitInferError:
                pass
            return bad

    async def client() -> None:
        nonlocal left
        while left > 0:
            roll = rng.random()
            if roll < 0.3:
                left -= 1
                await refused("session", session_mutant(rng, workload))
                continue
            take = min(rng.randint(1, WS_BATCH), left)
            left -= take
            bad = None
            if roll < 0.5 and left > 0:
                left -= 1
                bad = mid_session_mutant()
            items = []
            for _ in range(take):
                kind, frame = mutant(rng, corpus, workload)
                tally.by_kind["payload"] += 1
                try:  # the session sends payloads: take the frame's, else the bytes as they are
                    items.append((kind, wire.decode_frame(frame)[1]))
                except SplitInferError:
                    items.append((kind, frame))
            await batch(items, bad)

    work = asyncio.gather(*(client() for _ in range(concurrency)))
    return await _measured(server, "websocket", work, n, tally)


# --- bombs and oversized bodies --------------------------------------------------------------


@dataclass
class BombResult:
    """One deliberately huge input and how the server answered it."""

    name: str
    sent_bytes: int
    expected: str
    got: str
    hwm_growth_kb: int

    @property
    def passed(self) -> bool:
        return self.got == self.expected


def _raw_http(server: srv.Endpoint, head: str, body: bytes = b"") -> tuple[int, bytes]:
    """One request to ``server`` on a fresh socket, never sending more than given."""
    return rawhttp.exchange("127.0.0.1", server.port, head, body)


def codec_bomb(workload: Workload, elements: int) -> bytes | None:
    """A valid frame whose payload (the bundle's own codec on zeros) declares ~``elements``.

    None for a codec whose payload declares nothing (a learned prior: the bundle fixes the
    shape, and any bytes decode to exactly that shape).
    """
    from splitinfer.codecs import LearnedCodec

    if isinstance(workload.bundle.codec, LearnedCodec):
        return None
    c = workload.bundle.feature_shape[1] if len(workload.bundle.feature_shape) > 1 else 1
    side = max(1, math.isqrt(elements // c))
    payload = workload.bundle.codec.encode(torch.zeros(1, c, side, side))
    return wire.encode_frame(
        wire.FrameHeader(request_id=1, bundle=workload.bundle.fingerprint), payload
    )


def png_bomb(width: int = 65_535, height: int = 65_535) -> bytes:
    """A 1x1 PNG whose header is patched to claim ``width`` x ``height`` pixels."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    data[ihdr + 17 : ihdr + 21] = zlib.crc32(bytes(data[ihdr : ihdr + 17])).to_bytes(4, "big")
    return bytes(data)


def bombs(
    server: srv.Endpoint, workload: Workload, cap: int, bomb_elements: int
) -> list[BombResult]:
    """Oversized bodies and decompression bombs; each must be refused, cheaply."""
    auth = f"Authorization: Bearer {server.token}\n" if server.token else ""
    head = f"POST {workload.infer_path} HTTP/1.1\nHost: x\n{auth}"
    head += f"Content-Type: {FRAME_TYPE}\n"
    results: list[BombResult] = []

    def check(name: str, sent: int, expected: str, send: Any) -> None:
        hwm = server.hwm_kb()
        try:
            got = send()
        except Exception as err:  # a dropped connection is a failure, recorded as such
            got = f"{type(err).__name__}: {err}"
        results.append(BombResult(name, sent, expected, got, server.hwm_kb() - hwm))

    def status_code(status: int, data: bytes) -> str:
        body = data.partition(b"\r\n\r\n")[2]
        try:
            return f"{status} {json.loads(body)['error']}"
        except (ValueError, KeyError, TypeError):
            return f"{status} (untyped)"

    check(
        "Content-Length of 100 GB, no body sent",
        0,
        "413 payload_too_large",
        lambda: status_code(*_raw_http(server, head + "Content-Length: 100000000000\n")),
    )
    chunk = cap + 1024
    chunked = f"{chunk:x}\r\n".encode() + b"\0" * chunk + b"\r\n"  # no end chunk: body open
    check(
        f"chunked body growing past the {cap:,} B cap",
        len(chunked),
        "413 payload_too_large",
        lambda: status_code(*_raw_http(server, head + "Transfer-Encoding: chunked\n", chunked)),
    )
    big = b"\0" * (cap + 1)
    check(
        "honest body of cap + 1 bytes",
        len(big),
        "413 payload_too_large",
        lambda: status_code(*_raw_http(server, head + f"Content-Length: {len(big)}\n", big)),
    )
    liar = wire.encode_frame(
        wire.FrameHeader(request_id=1, bundle=workload.bundle.fingerprint), b"x" * 200
    )[:24]
    check(
        "frame whose length field says 200 B, 24 B sent",
        len(liar),
        "400 bad_frame",
        lambda: status_code(*_raw_http(server, head + f"Content-Length: {len(liar)}\n", liar)),
    )
    frame = codec_bomb(workload, bomb_elements)
    if frame is not None:
        bomb = frame
        check(
            f"{len(bomb)} B frame whose payload declares {bomb_elements:,} elements",
            len(bomb),
            "413 payload_too_large",
            lambda: status_code(*_raw_http(server, head + f"Content-Length: {len(bomb)}\n", bomb)),
        )
    png = png_bomb()
    img_head = head.replace("/infer ", "/infer-image ").replace(FRAME_TYPE, "image/png")
    check(
        f"{len(png)} B PNG claiming 65535 x 65535 pixels (infer-image)",
        len(png),
        "413 payload_too_large",
        lambda: status_code(*_raw_http(server, img_head + f"Content-Length: {len(png)}\n", png)),
    )
    if server.grpc_port is not None:
        check(
            "gRPC: message of cap + 2 KiB",
            cap + 2048,
            "RESOURCE_EXHAUSTED",
            lambda: _grpc_status(server, b"\0" * (cap + 2048)),
        )
        if frame is not None:
            grpc_bomb = frame
            check(
                f"gRPC: {len(grpc_bomb)} B frame declaring {bomb_elements:,} elements",
                len(grpc_bomb),
                "RESOURCE_EXHAUSTED",
                lambda: _grpc_status(server, grpc_bomb),
            )
    return results


def _grpc_status(server: srv.Endpoint, frame: bytes) -> str:
    async def call() -> str:
        import grpc

        from splitinfer.protocol.pb import splitinfer_pb2 as pb
        from splitinfer.protocol.pb import splitinfer_pb2_grpc as pb_grpc

        async with grpc_channel(server.grpc_target, server.tls_cert) as channel:
            stub = pb_grpc.SplitInferenceStub(channel)
            try:
                await stub.Infer(
                    pb.InferRequest(frame=frame), metadata=server.grpc_metadata, timeout=60
                )
            except grpc.aio.AioRpcError as err:
                return str(err.code().name)
        return "OK"

    return asyncio.run(call())


# --- the command ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--bundle", type=Path, default=None, help="bundle dir (default: the default)")
    p.add_argument("--http", type=int, default=100_000, help="fuzzed frames over HTTP")
    p.add_argument("--grpc", type=int, default=10_000, help="fuzzed frames over gRPC")
    p.add_argument("--ws", type=int, default=10_000, help="fuzzed WebSocket messages")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--bomb-elements", type=int, default=16 * 1024 * 1024)
    p.add_argument("--hwm-margin-mb", type=float, default=64.0, help="allowed peak RSS growth")
    p.add_argument("--json", type=Path, default=Path("reports/reliability/fuzz.json"))
    args = p.parse_args(argv)
    workload = load_workload(args.bundle, pool=64)
    token = "fuzz-" + str(random.Random().getrandbits(64))
    extra = ["--torch-threads", "1", "--log-level", "warning"]
    cap = wire.MAX_FRAME_BYTES
    with srv.serve(workload.bundle_dir, token=token, extra=extra) as server:
        hwm0 = server.hwm_kb()
        reports = [asyncio.run(fuzz_http(server, workload, args.http, args.seed))]
        print(reports[-1].line(), flush=True)
        if args.grpc:
            reports.append(asyncio.run(fuzz_grpc(server, workload, args.grpc, args.seed + 1)))
            print(reports[-1].line(), flush=True)
        if args.ws:
            reports.append(asyncio.run(fuzz_ws(server, workload, args.ws, args.seed + 2)))
            print(reports[-1].line(), flush=True)
        blasts = bombs(server, workload, cap, args.bomb_elements)
        for b in blasts:
            print(
                f"  {'ok  ' if b.passed else 'FAIL'} {b.name}: {b.got} (expected {b.expected}), "
                f"peak RSS {b.hwm_growth_kb / 1024:+.1f} MB"
            )
        growth = server.hwm_kb() - hwm0
        alive = server.alive() and _healthy(server)
    bounded = growth <= args.hwm_margin_mb * 1024
    print(
        f"peak RSS grew {growth / 1024:.1f} MB over the whole run (margin "
        f"{args.hwm_margin_mb:g} MB); server alive at the end: {alive}"
    )
    ok = all(r.passed for r in reports) and all(b.passed for b in blasts) and bounded and alive
    out = {
        "machine": machine(),
        "bundle": workload.bundle_id,
        "seed": args.seed,
        "reports": [{**asdict(r), "passed": r.passed} for r in reports],
        "bombs": [{**asdict(b), "passed": b.passed} for b in blasts],
        "hwm_growth_kb": growth,
        "passed": ok,
    }
    for r in reports:
        for answer, count in r.by_answer.items():
            print(f"  {r.transport:>5} {count:>8,}  {answer}")
    return write_report(args.json, out, ok)


if __name__ == "__main__":
    sys.exit(main())
