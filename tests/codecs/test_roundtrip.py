"""Every registered codec round-trips within its declared tolerance (timm-style)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from splitinfer import codecs
from tests.codecs.codec_cases import ALL_SPECS, REGISTERED, check_reconstruction

SHAPES = [
    (),
    (1,),
    (7,),
    (3, 5),
    (1, 1, 1),
    (3, 4, 5),
    (2, 3, 4, 5),
    (1, 64, 14, 14),
    (2, 1, 3, 2, 2),
]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_shapes(codec: codecs.Pipeline, shape: tuple[int, ...]) -> None:
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)) * 3
    check_reconstruction(codec, x, codec.decode(codec.encode(x)))


@pytest.mark.parametrize("fill", [0.0, 1.0, -2.5, 1e-3, 3.14159, 1000.1])
def test_constant_tensors(codec: codecs.Pipeline, fill: float) -> None:
    x = torch.full((2, 5, 3, 3), fill)
    y = codec.decode(codec.encode(x))
    check_reconstruction(codec, x, y)
    quant = [dict(s.params) for s in codec.spec.stages if s.name == "quant"]
    calibrated = bool(quant) and ":" not in quant[0]["clip"]
    if codec.tolerance != "unbounded" and (calibrated or codec.lossless):
        assert torch.equal(y, x), "a calibrated constant tensor must come back exactly"


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_inputs(codec: codecs.Pipeline, dtype: torch.dtype) -> None:
    x = torch.randn(1, 6, 5, 4, generator=torch.Generator().manual_seed(1)).to(dtype)
    check_reconstruction(codec, x, codec.decode(codec.encode(x)))


def test_non_contiguous(codec: codecs.Pipeline) -> None:
    base = torch.randn(4, 6, 8, 10, generator=torch.Generator().manual_seed(2))
    x = base.permute(0, 1, 3, 2)[:, ::2, 1:, ::3]
    assert not x.is_contiguous()
    y = codec.decode(codec.encode(x))
    check_reconstruction(codec, x, y)
    assert torch.equal(codec.decode(codec.encode(x.contiguous())), y)


def test_smooth_input_close(codec: codecs.Pipeline) -> None:
    """Lossy image codecs without a bound must still be close on smooth inputs."""
    grid = torch.linspace(0, 1, 16)
    x = (grid[:, None] + grid[None, :]).expand(4, 16, 16).contiguous()
    y = codec.decode(codec.encode(x))
    check_reconstruction(codec, x, y)
    if codec.tolerance == "unbounded":
        assert float((y - x).abs().mean()) < 0.02 * float(x.max() - x.min())


def test_payload_is_bytes_and_small(codec: codecs.Pipeline) -> None:
    payload = codec.encode(torch.zeros(1, 8, 7, 7))
    assert isinstance(payload, bytes)
    text = str(codec.spec)
    if text.startswith("quant:bits=8,clip=minmax|ans") and not codec.compressors:
        # dtype 1 + quant flag 1 + lo 2 + shape 5 + model id 1 + (lo, K=1) 2: no ANS words
        assert len(payload) == 12, payload


@pytest.mark.parametrize("name", REGISTERED)
def test_every_name_is_a_codec(name: str) -> None:
    codec = codecs.create(name)
    assert isinstance(codec, codecs.Codec)
    assert codec.tolerance in ("lossless", "bounded", "unbounded")
    assert codec.lossless == (codec.tolerance == "lossless")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    spec=st.sampled_from(ALL_SPECS),
    shape=st.lists(st.integers(1, 5), min_size=0, max_size=4).map(tuple),
    scale=st.floats(1e-3, 1e3),
    seed=st.integers(0, 2**16),
)
def test_property_roundtrip(spec: str, shape: tuple[int, ...], scale: float, seed: int) -> None:
    codec = codecs.create(spec)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * scale
    check_reconstruction(codec, x, codec.decode(codec.encode(x)))


@pytest.mark.parametrize(
    "spec", ["raw", "raw|zstd", "raw|deflate", "tile", "quant:bits=8|tile|png", "jpegxl:distance=0"]
)
def test_declared_lossless_on_symbols_or_floats(spec: str) -> None:
    codec = codecs.create(spec)
    x = torch.randn(2, 3, 4, 5)
    y = codec.decode(codec.encode(x))
    if codec.lossless:
        assert torch.equal(x, y)
    else:
        again = codec.decode(codec.encode(y))
        assert torch.equal(y, again), "quantized values must be a fixed point"
