"""The learned-prior codec: exact and range coders under integer tables, old bundles'
frames byte-identical, round trips up to 2**20 symbols, and hostile payloads.

Golden files (``tests/codecs/golden``) were written by the codec as it was before the
range coder existed: 16 Fashion-MNIST test images, their frames under the shipped default
bundle, and the feature symbols. Regenerate the range coder's golden payloads (only for a
deliberate format change) with ``SPLITINFER_REGEN_GOLDEN=1 pytest tests/codecs``.
"""

from __future__ import annotations

import contextlib
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from splitinfer import codecs, wire
from splitinfer.bottleneck.prior import quantize_pmf
from splitinfer.bundle import STAGE1_BUNDLE_ID, Bundle, shipped_bundle_path
from splitinfer.codecs import CodecState, LearnedCodec, LearnedSpec, arith, rangecoder
from splitinfer.errors import BadCodecSpec, CodecError, PayloadTooLarge, SplitInferError
from splitinfer.experiments.codecbench.fuzz import fuzz_decode

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("SPLITINFER_REGEN_GOLDEN") == "1"
# The golden files default_bundle_* are the stage1 bundle's (the default until #16 shipped
# the stage3 one); they pin the coder, so they stay on that bundle.
GOLDEN_BUNDLE = STAGE1_BUNDLE_ID
DEFAULT_FINGERPRINT = 0x836380DD  # that bundle, before and after


def tables(rows: int, levels: int, seed: int) -> torch.Tensor:
    """Skewed random integer tables (rows x levels, each row summing to 2**16)."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(rows, levels, generator=g) * 2
    return quantize_pmf(torch.softmax(logits, dim=1)).int()


def sample(freqs: torch.Tensor, per_row: int, seed: int) -> torch.Tensor:
    """Symbols drawn from the tables, as a flat int64 tensor."""
    g = torch.Generator().manual_seed(seed)
    probs = freqs.double().repeat_interleave(per_row, dim=0)
    return torch.multinomial(probs, 1, generator=g).reshape(-1)


def learned(shape: tuple[int, int, int], levels: int, mode: str, coder: str, seed: int = 0):
    c, h, w = shape
    rows = c if mode == "channel" else c * h * w
    freqs = tables(rows, levels, seed)
    codec = codecs.create(
        f"learned:levels={levels},tables={mode},coder={coder}", state=CodecState(shape, freqs)
    )
    assert isinstance(codec, LearnedCodec)
    q = sample(freqs, h * w if mode == "channel" else 1, seed + 1)
    return codec, (q.float() / (levels - 1)).reshape(1, c, h, w)


# --- specs and which coder applies --------------------------------------------------------


def test_spec_names_the_coder_and_old_specs_mean_exact() -> None:
    old = LearnedSpec.parse("learned:levels=4,tables=element")
    assert old.coder == "exact" and str(old) == "learned:levels=4,tables=element"
    ranged = LearnedSpec.parse("learned:levels=4,tables=element,coder=range")
    assert str(ranged) == "learned:levels=4,tables=element,coder=range"
    assert codecs.canonical_text("learned:levels=4,tables=element,coder=exact") == str(old)
    with pytest.raises(BadCodecSpec):
        LearnedSpec.parse("learned:levels=4,tables=element,coder=fast")


def test_auto_is_resolved_when_built_and_the_built_spec_names_the_coder() -> None:
    small, _ = learned((2, 4, 4), 4, "element", "auto")
    big, _ = learned((8, 28, 28), 4, "channel", "auto")
    assert str(small.spec).endswith("tables=element")  # exact, written as before
    assert str(big.spec).endswith("coder=range")


def test_the_exact_coder_refuses_latents_too_big_for_it() -> None:
    with pytest.raises(BadCodecSpec, match="coder=range"):
        learned((8, 28, 28), 4, "channel", "exact")


# --- round trips --------------------------------------------------------------------------


@pytest.mark.parametrize("coder", ["exact", "range"])
@pytest.mark.parametrize("mode", ["channel", "element"])
@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 3, 5), (8, 4, 4), (16, 16, 16)])
def test_round_trip_is_exact_on_symbols(coder: str, mode: str, shape: tuple[int, int, int]) -> None:
    codec, z = learned(shape, 4, mode, coder, seed=sum(shape))
    payload = codec.encode(z)
    assert torch.equal(codec.decode(payload), z)
    info = codec.estimate_bits(z)
    slack = 9 if coder == "exact" else 64  # range: the coder's final word
    assert 8 * len(payload) <= info + slack


@pytest.mark.parametrize(
    ("shape", "mode"),
    [((8, 28, 28), "element"), ((64, 40, 40), "channel"), ((4, 512, 512), "channel")],
)
def test_range_coder_round_trips_big_latents(shape: tuple[int, int, int], mode: str) -> None:
    """6,272, 102,400 and 2**20 symbols: bytes within 1% + 2 B of the information."""
    codec, z = learned(shape, 4, mode, "range", seed=3)
    payload = codec.encode(z)
    assert torch.equal(codec.decode(payload), z)
    info_bytes = codec.estimate_bits(z) / 8
    assert info_bytes - 1 <= len(payload) <= 1.01 * info_bytes + 2


def test_range_coder_with_many_levels() -> None:
    codec, z = learned((3, 20, 20), 256, "element", "range", seed=5)
    assert torch.equal(codec.decode(codec.encode(z)), z)


# --- the shipped default bundle: frames byte-identical ------------------------------------


def _golden_frames() -> list[bytes]:
    data = (GOLDEN / "default_bundle_frames.bin").read_bytes()
    frames, at = [], 0
    while at < len(data):
        (n,) = struct.unpack_from("<H", data, at)
        frames.append(data[at + 2 : at + 2 + n])
        at += 2 + n
    return frames


@pytest.fixture(scope="module")
def default_bundle() -> Bundle:
    return Bundle.load(shipped_bundle_path(GOLDEN_BUNDLE))


def test_default_bundle_spec_and_fingerprint_are_unchanged(default_bundle: Bundle) -> None:
    assert default_bundle.spec.codec == "learned:levels=4,tables=element"
    assert str(default_bundle.codec.spec) == default_bundle.spec.codec
    assert default_bundle.fingerprint == DEFAULT_FINGERPRINT


def test_default_bundle_payloads_are_byte_identical(default_bundle: Bundle) -> None:
    """Symbols -> payload under the bundle's tables: no floating point involved."""
    symbols = torch.from_numpy(np.load(GOLDEN / "default_bundle_symbols.npy")).float() / 3
    for i, frame in enumerate(_golden_frames()):
        _header, payload = wire.decode_frame(frame)
        assert default_bundle.codec.encode(symbols[i : i + 1]) == payload
        assert torch.equal(default_bundle.codec.decode(payload), symbols[i : i + 1])


def test_default_bundle_frames_are_byte_identical(default_bundle: Bundle) -> None:
    """The whole edge path: images -> frames (the head's floats included)."""
    torch.set_num_threads(1)
    images = torch.from_numpy(np.load(GOLDEN / "default_bundle_images.npy"))
    golden = _golden_frames()
    assert default_bundle.edge.encode(images) == golden
    for frame in golden:
        _header, z = default_bundle.cloud.decode(frame)
        assert z.shape == default_bundle.feature_shape


def test_range_coder_under_the_default_bundles_tables(default_bundle: Bundle) -> None:
    """The same integer tables drive the range coder: golden payloads, fixed bits."""
    prior = default_bundle.model.prior
    assert prior is not None
    codec = codecs.create("learned:levels=4,tables=element,coder=range", state=prior.state())
    symbols = torch.from_numpy(np.load(GOLDEN / "default_bundle_symbols.npy")).float() / 3
    payloads = [codec.encode(symbols[i : i + 1]) for i in range(len(symbols))]
    blob = b"".join(struct.pack("<H", len(p)) + p for p in payloads)
    path = GOLDEN / "default_bundle_range_payloads.bin"
    if REGEN:
        path.write_bytes(blob)
    assert path.read_bytes() == blob
    for i, p in enumerate(payloads):
        assert torch.equal(codec.decode(p), symbols[i : i + 1])
    exact = [len(wire.decode_frame(f)[1]) for f in _golden_frames()]
    assert sum(exact) < sum(len(p) for p in payloads)  # why tiny latents keep the exact coder


# --- hostile payloads ---------------------------------------------------------------------

HOSTILE = [((8, 4, 4), "element", "exact"), ((8, 4, 4), "element", "range"),
           ((8, 28, 28), "channel", "range"), ((3, 16, 16), "element", "range")]  # fmt: skip


@pytest.mark.parametrize(("shape", "mode", "coder"), HOSTILE)
def test_mutated_payloads_decode_to_valid_symbols_or_a_typed_error(
    shape: tuple[int, int, int], mode: str, coder: str
) -> None:
    codec, z = learned(shape, 4, mode, coder, seed=7)
    stats = fuzz_decode(codec, codec.encode(z), 600, seed=11)
    assert stats.count == stats.decoded + sum(stats.errors.values()) == 600
    assert stats.decoded > 0


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(HOSTILE), data=st.binary(max_size=600))
def test_arbitrary_bytes(case: tuple[tuple[int, int, int], str, str], data: bytes) -> None:
    shape, mode, coder = case
    codec, _ = learned(shape, 4, mode, coder, seed=7)
    try:
        y = codec.decode(data)
    except SplitInferError:
        return
    levels = y * 3
    assert y.shape == (1, *shape) and torch.equal(levels, torch.round(levels))
    assert float(y.min()) >= 0 and float(y.max()) <= 1


def test_messages_longer_than_any_encoding_are_refused() -> None:
    codec, _ = learned((8, 28, 28), 4, "channel", "range")
    limit = rangecoder.max_message_bytes(8 * 28 * 28)
    with pytest.raises(PayloadTooLarge):
        codec.decode(b"\xff" * (limit + 1))
    # at the limit: decoded (all symbols valid) or refused as invalid, never a crash
    with contextlib.suppress(CodecError):
        codec.decode(b"\xff" * limit)
    exact, _ = learned((8, 4, 4), 4, "element", "exact")
    with pytest.raises(PayloadTooLarge):
        exact.decode(b"\x01" * (arith.MAX_MESSAGE_BYTES + 1))
    longest = arith.max_message_bytes(128)
    with pytest.raises(PayloadTooLarge):
        exact.decode(b"\x01" * (longest + 1))
    assert exact.decode(b"\xff" * longest).shape == (1, 8, 4, 4)  # any bytes: valid symbols


def test_range_tables_are_checked() -> None:
    with pytest.raises(CodecError):
        rangecoder.RangeTables(np.ones((3, 4), dtype=np.int64), 1)  # rows do not sum to 2**16
    good = tables(2, 4, 0).numpy()
    rt = rangecoder.RangeTables(good, 5)
    with pytest.raises(CodecError):
        rt.encode(np.zeros(9, dtype=np.int32))  # 10 symbols expected
    with pytest.raises(CodecError):
        rt.encode(np.full(10, 4, dtype=np.int32))  # symbol out of range
