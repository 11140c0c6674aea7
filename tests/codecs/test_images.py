"""Image codecs: standard bitstreams other decoders read, bit depths, closeness."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from splitinfer import codecs
from splitinfer.codecs.tile import plane_shape


def _smooth(c: int = 9, h: int = 12, w: int = 10) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    return torch.stack([torch.sin(3 * yy + k) * torch.cos(2 * xx - k) for k in range(c)])[None]


def _jpeg_bytes(quality: int = 90) -> tuple[bytes, np.ndarray, tuple[int, int]]:
    """The JPEG inside a payload, and the 8-bit plane the encoder fed it."""
    codec = codecs.create(f"quant:bits=8|tile|jpeg:quality={quality}")
    x = _smooth()
    payload = codec.encode(x)
    start = payload.index(b"\xff\xd8\xff")
    quant, tile = codec.transforms
    symbols, _ = quant.forward(x, codec.kinds[0])
    plane, _ = tile.forward(symbols, codec.kinds[1])
    return payload[start:], plane.numpy().astype(np.uint8), plane_shape(tuple(x.shape), 1)


def test_jpeg_is_baseline_and_pillow_reads_it_from_disk(tmp_path: Path) -> None:
    from PIL import Image

    data, plane, (h, w) = _jpeg_bytes()
    assert b"\xff\xc0" in data and b"\xff\xc2" not in data  # SOF0 (baseline), not progressive
    path = tmp_path / "plane.jpg"
    path.write_bytes(data)
    with Image.open(path) as im:
        assert im.format == "JPEG" and im.mode == "L" and im.size == (w, h)
        decoded = np.asarray(im)
    assert np.abs(decoded.astype(int) - plane).mean() < 2.0


def test_jpeg_read_by_libjpeg_turbo_via_imagecodecs() -> None:
    imagecodecs = pytest.importorskip("imagecodecs")
    data, plane, (h, w) = _jpeg_bytes()
    decoded = np.asarray(imagecodecs.jpeg8_decode(data))
    assert decoded.shape == (h, w)
    assert np.abs(decoded.astype(int) - plane).mean() < 2.0


def test_jpeg_read_by_torchvision() -> None:
    io = pytest.importorskip("torchvision.io")
    data, plane, (h, w) = _jpeg_bytes()
    decoded = io.decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8)).numpy()[0]
    assert decoded.shape == (h, w)
    assert np.abs(decoded.astype(int) - plane).mean() < 2.0


@pytest.mark.skipif(
    shutil.which("djpeg") is None, reason="djpeg (libjpeg-turbo-progs) not installed"
)
def test_jpeg_read_by_djpeg(tmp_path: Path) -> None:
    data, plane, (h, w) = _jpeg_bytes()
    (tmp_path / "p.jpg").write_bytes(data)
    out = subprocess.run(
        ["djpeg", "-pnm", str(tmp_path / "p.jpg")], capture_output=True, check=True
    )
    header, _, rest = out.stdout.partition(b"\n255\n")
    assert header.split()[1:3] == [str(w).encode(), str(h).encode()]
    decoded = np.frombuffer(rest, np.uint8).reshape(h, w)
    assert np.abs(decoded.astype(int) - plane).mean() < 2.0


@pytest.mark.parametrize("spec", ["webp", "avif", "jpeg", "jpegxl", "png"])
def test_lossy_close_on_smooth_features(spec: str) -> None:
    codec = codecs.create(spec)
    x = _smooth()
    y = codec.decode(codec.encode(x))
    assert y.shape == x.shape and y.dtype == x.dtype
    assert float((y - x).abs().mean()) < 0.02 * float(x.max() - x.min())


@pytest.mark.parametrize(
    "spec", ["quant:bits=16|tile|png", "quant:bits=12|tile|jpegxl:distance=0.0"]
)
def test_sixteen_bit_planes_are_exact_on_symbols(spec: str) -> None:
    codec = codecs.create(spec)
    x = torch.randn(2, 5, 6, 7)
    y = codec.decode(codec.encode(x))
    bound = codec.error_bound(x)
    assert bound is not None and float((y - x).abs().max()) <= bound


def test_quality_trades_bytes() -> None:
    x = torch.randn(1, 32, 14, 14).relu()
    sizes = [len(codecs.create(f"jpeg:quality={q}").encode(x)) for q in (10, 50, 95)]
    assert sizes == sorted(sizes)


def test_jpegxl_container_size_is_read() -> None:
    """libjxl wraps 16-bit codestreams in an ISOBMFF container; the size check sees through it."""
    imagecodecs = pytest.importorskip("imagecodecs")
    from splitinfer.codecs.jxl_header import codestream, jxl_size

    data = imagecodecs.jpegxl_encode(np.zeros((30, 40), np.uint16), lossless=True)
    assert jxl_size(data) == (40, 30)
    assert codestream(data).startswith(b"\xff\x0a")
