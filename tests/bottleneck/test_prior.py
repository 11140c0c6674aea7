"""The learned factorized prior, its integer tables and the codec built with them."""

from __future__ import annotations

import pytest
import torch

from splitinfer import codecs
from splitinfer.bottleneck import UnitConfig, insert_bottleneck
from splitinfer.bottleneck.prior import FactorizedPrior, LearnedSpec, quantize_pmf, quantize_ste
from splitinfer.codecs import CodecState, LearnedCodec, arith
from splitinfer.errors import BadCodecSpec, BadInput, CodecError
from splitinfer.partition import split
from splitinfer.zoo import create


def test_spec_parse_and_errors() -> None:
    spec = LearnedSpec.parse("learned:levels=8,tables=element")
    assert (spec.levels, spec.tables) == (8, "element")
    assert str(spec) == "learned:levels=8,tables=element"
    assert codecs.needs_state(str(spec)) and not codecs.needs_state("quant:bits=2|ans")
    for bad in ("learned:levels=1,tables=channel", "learned:levels=8", "learned:levels=8,tables=x"):
        with pytest.raises(BadCodecSpec):
            LearnedSpec.parse(bad)


def test_quantized_tables_are_valid_and_close() -> None:
    pmf = torch.tensor([[0.5, 0.25, 0.25, 0.0], [1e-9, 1e-9, 1.0, 1e-9]])
    freqs = quantize_pmf(pmf)
    assert freqs.sum(1).tolist() == [arith.TOTAL, arith.TOTAL]
    assert int(freqs.min()) >= 1
    assert abs(int(freqs[0, 0]) / arith.TOTAL - 0.5) < 1e-3
    assert torch.equal(quantize_pmf(pmf), freqs)  # deterministic


def test_prior_pmf_sums_to_one_and_bits_are_differentiable() -> None:
    prior = FactorizedPrior((2, 3, 3), levels=4, tables="channel")
    assert torch.allclose(prior.pmf().sum(1), torch.ones(2), atol=1e-5)
    y = (torch.rand(5, 2, 3, 3) * 3).requires_grad_(True)
    bits = prior.bits(y)
    assert bits.shape == y.shape and bool((bits >= 0).all())
    bits.sum().backward()
    assert y.grad is not None and prior.means.grad is not None
    with pytest.raises(BadInput):
        prior.bits(torch.zeros(1, 3, 3, 3))


def test_fitting_the_prior_lowers_the_bits() -> None:
    torch.manual_seed(0)
    prior = FactorizedPrior((1, 2, 2), levels=8, tables="element")
    data = torch.zeros(256, 1, 2, 2)
    data[:, 0, 0, 0] = 1.0
    data[:, 0, 1, 1] = 6.0
    opt = torch.optim.Adam(prior.parameters(), lr=0.05)
    for _ in range(150):
        noisy = data + torch.rand_like(data) - 0.5
        loss = prior.bits(noisy).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    prior.update_tables()
    codec = codecs.create(str(prior.spec), state=prior.state())
    z = data[:1] / 7
    # 4 elements at 3 bits each under a uniform prior; fitted, nearly free
    assert codec.estimate_bits(z) < 4.0
    assert len(codec.encode(z)) <= 2


def test_codec_round_trip_estimate_and_errors() -> None:
    torch.manual_seed(1)
    prior = FactorizedPrior((3, 4, 4), levels=4, tables="element")
    prior.update_tables()
    codec = codecs.create(str(prior.spec), state=prior.state())
    assert isinstance(codec, LearnedCodec)
    z = torch.rand(1, 3, 4, 4)
    payload = codec.encode(z)
    out = codec.decode(payload)
    step = 1 / 3
    assert out.shape == z.shape
    assert float((out - z).abs().max()) <= step / 2 + 1e-6
    assert torch.equal(out, torch.round(z * 3) / 3)
    assert abs(8 * len(payload) - codec.estimate_bits(z)) <= 9
    with pytest.raises(CodecError):
        codec.encode(torch.rand(2, 3, 4, 4))
    with pytest.raises(CodecError):
        codec.encode(torch.full((1, 3, 4, 4), float("nan")))
    with pytest.raises(CodecError):
        codec.decode("text")  # type: ignore[arg-type]
    with pytest.raises(CodecError, match="do not fit"):
        codecs.create(str(prior.spec), state=CodecState((3, 4, 4), torch.ones(5, 4)))
    with pytest.raises(BadCodecSpec, match="tables"):
        codecs.create(str(prior.spec))  # a stateful codec is built with its state
    with pytest.raises(BadCodecSpec, match="no state"):
        codecs.create("quant:bits=2|ans", state=prior.state())


def test_ste_rounds_forward_and_passes_gradient() -> None:
    z = torch.tensor([0.1, 0.4, 0.9], requires_grad=True)
    out = quantize_ste(z, 3)
    assert out.tolist() == [0.0, 0.5, 1.0]
    out.sum().backward()
    assert z.grad is not None and z.grad.tolist() == [1.0, 1.0, 1.0]


def test_bottleneck_with_learned_codec_reports_rate() -> None:
    model = create("fmnist_cnn")
    s = split(model, "stage1", torch.zeros(1, 1, 28, 28))
    bm = insert_bottleneck(s, UnitConfig(2, 2, depth=2), "learned:levels=4,tables=channel")
    assert bm.prior is not None and bm.prior.shape == (2, 7, 7)
    bm.train()
    logits = bm(torch.randn(4, 1, 28, 28))
    assert logits.shape == (4, 10)
    assert bm.rate_bits is not None and float(bm.rate_bits) > 0
    (logits.sum() + bm.rate_bits).backward()
    assert bm.reduction.body[0].weight.grad is not None  # type: ignore[index]
