"""Request-body reading with a hard size cap, enforced while the bytes arrive."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from splitinfer.errors import BadInput, PayloadTooLarge


def check_declared_length(headers: Mapping[str, str], cap: int) -> None:
    """Refuse a ``Content-Length`` over ``cap`` before a single body byte is read."""
    declared = headers.get("content-length")
    if declared is None:
        return
    if not declared.isdigit():
        raise BadInput(f"Content-Length must be a non-negative integer, got {declared!r}")
    if int(declared) > cap:
        raise PayloadTooLarge(f"body too large: Content-Length {declared} > cap {cap} bytes")


async def read_capped(chunks: AsyncIterator[bytes], cap: int) -> bytes:
    """Concatenate ``chunks``, raising PayloadTooLarge the moment the total passes ``cap``."""
    buf = bytearray()
    async for chunk in chunks:
        buf += chunk
        if len(buf) > cap:
            raise PayloadTooLarge(
                f"body too large: more than {cap} bytes; send one frame per request"
            )
    return bytes(buf)
