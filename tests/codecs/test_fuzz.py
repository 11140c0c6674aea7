"""Fuzzing: >= 10,000 mutated payloads across every codec; only typed errors escape."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from splitinfer import codecs
from splitinfer.errors import SplitInferError
from splitinfer.experiments.codecbench.fuzz import fuzz_decode
from tests.codecs.codec_cases import ALL_SPECS

PER_SPEC = -(-10_000 // len(ALL_SPECS))  # at least 10,000 in all
_TOTAL: list[int] = []


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_mutated_payloads(spec: str) -> None:
    codec = codecs.create(spec)
    x = torch.randn(1, 5, 4, 3, generator=torch.Generator().manual_seed(0)).relu()
    stats = fuzz_decode(codec, codec.encode(x), PER_SPEC, seed=hash(spec) & 0xFFFF)
    assert stats.count == PER_SPEC
    assert stats.count == stats.decoded + sum(stats.errors.values())
    _TOTAL.append(stats.count)


def test_fuzz_count_reaches_ten_thousand() -> None:
    assert PER_SPEC * len(ALL_SPECS) >= 10_000


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=st.sampled_from(ALL_SPECS), data=st.binary(max_size=300))
def test_arbitrary_bytes(spec: str, data: bytes) -> None:
    codec = codecs.create(spec)
    try:
        y = codec.decode(data)
    except SplitInferError:
        return
    assert isinstance(y, torch.Tensor) and bool(torch.isfinite(y).all())
