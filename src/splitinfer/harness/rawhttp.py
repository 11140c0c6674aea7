"""One HTTP/1.1 exchange on a raw socket, for requests an HTTP client would not send.

An HTTP client completes or corrects what it is given (lengths, bodies, chunking); these
checks need the exact bytes on the wire and nothing more, and need to hear a server that
answers (413, 400) and closes before the body is all sent. Used by the fuzzer's bombs
and by the server tests (``tests/cloud/helpers.py``). :class:`Connection` is its asyncio
sibling for load: a keep-alive connection that POSTs frames back to back.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Mapping


def exchange(
    host: str, port: int, head: str, body: bytes = b"", timeout_s: float = 30.0
) -> tuple[int, bytes]:
    """Send ``head`` (``\\n`` line ends, made ``\\r\\n``) and ``body``; (status, response bytes).

    The bytes go out from a thread while this one reads, so an early answer is heard
    rather than seen as a broken pipe. Reading stops when the headers and a
    Content-Length body have arrived, or the server closes.
    """
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        message = head.replace("\n", "\r\n").encode() + b"\r\n" + body

        def send() -> None:
            with contextlib.suppress(OSError):
                sock.sendall(message)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        data = b""
        while not complete(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1]), data


def complete(data: bytes) -> bool:
    """The headers and a Content-Length body (if any) have arrived."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return True


class Connection:
    """One keep-alive HTTP/1.1 connection (asyncio) speaking just enough HTTP to POST a
    body and read a Content-Length answer: the ``http-raw`` load client.

    A minimal client keeps a throughput measurement about the server: a general-purpose
    async client (httpx) adds more latency than the server itself at 32 concurrent requests.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        return cls(*await asyncio.open_connection(host, port))

    async def post(
        self, path: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes]:
        """(status, body) of one POST; ``headers`` beside Host and Content-Length."""
        lines = [f"POST {path} HTTP/1.1", "Host: splitinfer"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await self.writer.drain()
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status = int(raw.split(b" ", 2)[1])
        length = 0
        for line in raw.lower().split(b"\r\n"):
            if line.startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()
