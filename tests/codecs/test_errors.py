"""Bad input gives typed errors: non-finite tensors, garbage payloads, bombs."""

from __future__ import annotations

import contextlib
import io
import struct
import zlib

import numpy as np
import pytest
import torch

from splitinfer import codecs
from splitinfer.codecs import limits
from splitinfer.codecs.bytesio import shape_bytes, varint
from splitinfer.errors import CodecError, PayloadTooLarge, SplitInferError
from tests.codecs.codec_cases import ALL_SPECS


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_input(codec: codecs.Pipeline, bad: float) -> None:
    x = torch.zeros(2, 3)
    x[1, 2] = bad
    with pytest.raises(CodecError, match="NaN or Inf"):
        codec.encode(x)


@pytest.mark.parametrize(
    "x",
    [torch.zeros(0), torch.zeros(3, dtype=torch.float64), torch.zeros(3, dtype=torch.int32), "x"],
    ids=["empty", "fp64", "int32", "str"],
)
def test_bad_tensors(x: object) -> None:
    with pytest.raises(CodecError):
        codecs.create("raw").encode(x)  # type: ignore[arg-type]


def test_rank_cap() -> None:
    with pytest.raises(CodecError, match="rank"):
        codecs.create("raw").encode(torch.zeros((1,) * (limits.MAX_RANK + 1)))


def test_fp16_overflow_refused() -> None:
    with pytest.raises(CodecError, match="65504"):
        codecs.create("raw:dtype=fp16").encode(torch.tensor([1e5]))


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_every_truncation(spec: str) -> None:
    codec = codecs.create(spec)
    payload = codec.encode(torch.randn(1, 3, 4, 4))
    for n in range(len(payload)):
        with contextlib.suppress(SplitInferError):
            codec.decode(payload[:n])
    with pytest.raises(CodecError):
        codec.decode(b"")


def test_decode_takes_bytes_only() -> None:
    with pytest.raises(CodecError):
        codecs.create("raw").decode("abc")  # type: ignore[arg-type]


def test_declared_numel_over_cap_before_allocating() -> None:
    huge = shape_bytes((1 << 20, 1 << 20))
    with pytest.raises(PayloadTooLarge):
        codecs.create("raw").decode(b"\x00" + huge + b"\x00" * 16)
    with pytest.raises(PayloadTooLarge):  # tile's side info declares the shape
        codecs.create("tile").decode(b"\x00" + huge)
    with pytest.raises(PayloadTooLarge):  # ans: 1 flag + fp16 lo, hi; then the ans body
        codecs.create("ans").decode(b"\x00\x01" + b"\x00\x00\x00\x3c" + huge + b"\x00\x00\x01")


def test_ans_needs_bits_for_its_symbols() -> None:
    """A tiny ANS payload cannot declare millions of informative symbols."""
    shape = shape_bytes((4_000_000,))
    body = shape + bytes([0]) + varint(0) + varint(2) + varint(1) + varint(1) + b"\x01\x00\x00\x00"
    with pytest.raises(PayloadTooLarge):
        codecs.create("ans").decode(b"\x00\x01\x00\x00\x00\x3c" + body)


def _zero_stream(compressor: object, total: int) -> bytes:
    chunk = b"\0" * (1 << 20)
    out = b""
    for _ in range(total // len(chunk)):
        out += compressor.compress(chunk)  # type: ignore[attr-defined]
    return out


@pytest.mark.slow
def test_deflate_bomb() -> None:
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = _zero_stream(comp, limits.MAX_DECODED_BYTES + (4 << 20)) + comp.flush()
    assert len(bomb) < 1 << 20
    with pytest.raises(PayloadTooLarge):
        codecs.create("raw|deflate").decode(b"\x00" + bomb)


def test_zstd_bomb() -> None:
    zstandard = pytest.importorskip("zstandard")
    params = zstandard.ZstdCompressionParameters.from_level(
        3, format=zstandard.FORMAT_ZSTD1_MAGICLESS, write_content_size=False
    )
    comp = zstandard.ZstdCompressor(compression_params=params).compressobj()
    bomb = _zero_stream(comp, limits.MAX_DECODED_BYTES + (4 << 20)) + comp.flush()
    with pytest.raises(PayloadTooLarge):
        codecs.create("raw|zstd").decode(b"\x00" + bomb)


def test_caps_are_given_to_each_codec_when_built() -> None:
    payload = codecs.create("raw|zstd").encode(torch.zeros(64, 64))
    small = codecs.create("raw|zstd", limits=codecs.Limits(max_decoded_bytes=1000))
    with pytest.raises(PayloadTooLarge):
        small.decode(payload)
    assert codecs.create("raw|zstd").decode(payload).shape == (64, 64)  # nothing global


@pytest.mark.parametrize("spec", ["raw", "quant:bits=4|ans", "quant|tile|png", "raw|zstd"])
def test_feature_sized_caps_refuse_a_bomb_before_decoding(spec: str) -> None:
    bomb = codecs.create(spec).encode(torch.zeros(1, 8, 300, 300))  # 720,000 elements
    capped = codecs.create(spec, limits=codecs.Limits.for_elements(8 * 4 * 4))
    assert capped.limits.max_elements == 4 * 128 + 65536
    with pytest.raises(PayloadTooLarge):
        capped.decode(bomb)
    small = torch.rand(1, 8, 4, 4)
    assert capped.decode(capped.encode(small)).shape == small.shape


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    crc = struct.pack(">I", zlib.crc32(chunk))
    idat = zlib.compress(b"\0" * 1024)
    idat_chunk = b"IDAT" + idat
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr)) + chunk + crc
        + struct.pack(">I", len(idat)) + idat_chunk + struct.pack(">I", zlib.crc32(idat_chunk))
    )  # fmt: skip


def _tile_side(shape: tuple[int, ...]) -> bytes:
    return (
        b"\x00" + b"\x01\x00\x00\x00\x3c" + shape_bytes(shape)
    )  # dtype, quant flag + fp16 lo/hi, tile shape


@pytest.mark.parametrize("size", [(100_000, 100_000), (1 << 13, (1 << 13) + 1)])
def test_png_pixel_bomb(size: tuple[int, int]) -> None:
    codec = codecs.create("png")
    with pytest.raises(PayloadTooLarge):
        codec.decode(_tile_side((1, 1, 1)) + _png_header(*size))


def test_jpeg_pixel_bomb() -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (16, 16)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 65000, 65000)  # height, width
    with pytest.raises(PayloadTooLarge):
        codecs.create("jpeg").decode(_tile_side((1, 1, 1)) + bytes(data))


@pytest.mark.slow
def test_jpegxl_header_bomb() -> None:
    imagecodecs = pytest.importorskip("imagecodecs")
    from splitinfer.codecs.jxl_header import jxl_size

    data = imagecodecs.jpegxl_encode(np.zeros((8000, 9000), np.uint8), distance=1.0, effort=1)
    assert jxl_size(data) == (9000, 8000)
    with pytest.raises(PayloadTooLarge):
        codecs.create("jpegxl").decode(_tile_side((1, 1, 1)) + data)


def test_wrong_image_format_refused() -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (4, 4)).save(buf, "PNG")
    with pytest.raises(CodecError):
        codecs.create("jpeg").decode(_tile_side((1, 4, 4)) + buf.getvalue())


def test_plane_shape_mismatch() -> None:
    png = codecs.create("png")
    payload = png.encode(torch.zeros(1, 4, 4))
    at = payload.index(shape_bytes((1, 4, 4)))
    payload = payload[:at] + shape_bytes((1, 4, 5)) + payload[at + 4 :]  # wider than the PNG
    with pytest.raises(CodecError, match="plane"):
        png.decode(bytes(payload))


def test_encoder_refuses_planes_the_decoder_would_refuse() -> None:
    for spec in ("png", "jpeg", "jpegxl"):
        with pytest.raises(PayloadTooLarge):
            codec = codecs.create(spec, limits=codecs.Limits(max_image_pixels=100))
            codec.encode(torch.zeros(1, 4, 6, 6))


def test_format_size_limits_are_typed_errors() -> None:
    with pytest.raises(CodecError):  # WebP planes are at most 16383 pixels wide
        codecs.create("webp").encode(torch.zeros(1, 1, 2, 17000))
