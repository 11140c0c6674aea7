"""``zstd`` and ``deflate``: lossless byte compressors over a coder's output.

Both write the leanest framing their format allows (zstd: magicless frame, no checksum,
no content size; deflate: raw RFC 1951 stream, no zlib header or Adler-32) because the
wire frame already carries a CRC, and both inflate with a hard output bound.
"""

from __future__ import annotations

import io
import zlib
from typing import Any

from splitinfer.codecs.catalog import register
from splitinfer.codecs.guard import third_party
from splitinfer.codecs.params import IntParam, Params
from splitinfer.codecs.stage import Compressor, StageInfo
from splitinfer.errors import CodecError, PayloadTooLarge, require

_ZSTD_MAX_WINDOW = 1 << 27


def _zstd() -> Any:
    """The zstandard module, imported on first use."""
    require("zstandard", "codecs")
    import zstandard

    return zstandard


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"compressed stream inflates past the cap of {max_bytes} bytes")


class ZstdCompressor(Compressor):
    """Zstandard (Collet & Kucherawy, RFC 8878) over the coder's bytes.

    coder bytes -> zstd frame (magicless) -> payload
    """

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        self.level = params.int("level")

    def compress(self, data: bytes) -> bytes:
        zstd = _zstd()
        params = zstd.ZstdCompressionParameters.from_level(
            self.level,
            format=zstd.FORMAT_ZSTD1_MAGICLESS,
            write_checksum=False,
            write_content_size=False,
            write_dict_id=False,
        )
        with third_party("zstd compress"):
            return bytes(zstd.ZstdCompressor(compression_params=params).compress(data))

    def decompress(self, data: bytes, max_bytes: int) -> bytes:
        zstd = _zstd()
        with third_party("zstd decompress"):
            dctx = zstd.ZstdDecompressor(
                max_window_size=_ZSTD_MAX_WINDOW, format=zstd.FORMAT_ZSTD1_MAGICLESS
            )
            reader = dctx.stream_reader(io.BytesIO(data), read_across_frames=False)
            out = bytearray()
            while True:
                chunk = reader.read(min(1 << 20, max_bytes + 1 - len(out)))
                if not chunk:
                    break
                out += chunk
                if len(out) > max_bytes:
                    raise _too_large(max_bytes)
        return bytes(out)


class DeflateCompressor(Compressor):
    """DEFLATE (Deutsch, RFC 1951) via zlib, as a raw stream without header.

    coder bytes -> raw deflate stream -> payload
    """

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        self.level = params.int("level")

    def compress(self, data: bytes) -> bytes:
        comp = zlib.compressobj(self.level, zlib.DEFLATED, -15)
        return comp.compress(data) + comp.flush()

    def decompress(self, data: bytes, max_bytes: int) -> bytes:
        dec = zlib.decompressobj(-15)
        try:
            out = dec.decompress(data, max_bytes + 1)
        except zlib.error as err:
            raise CodecError(f"corrupt deflate stream: {err}") from err
        if len(out) > max_bytes or dec.unconsumed_tail:
            raise _too_large(max_bytes)
        if not dec.eof:
            raise CodecError("truncated deflate stream")
        if dec.unused_data:
            raise CodecError("corrupt payload: bytes after the end of the deflate stream")
        return out


register(
    StageInfo(
        "zstd",
        "compressor",
        ZstdCompressor,
        (IntParam("level", "3", "zstd level (negative: faster)", -7, 22),),
        "Zstandard, lossless",
    )
)
register(
    StageInfo(
        "deflate",
        "compressor",
        DeflateCompressor,
        (IntParam("level", "6", "zlib level", 0, 9),),
        "DEFLATE (zlib), lossless",
    )
)
