"""Refitting a bundle's entropy-coding tables: the symbols stay, the bits change."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from splitinfer import wire
from splitinfer.bundle import Bundle, default_bundle_path
from splitinfer.cli import build_app
from splitinfer.data import synthetic
from splitinfer.errors import BadInput
from splitinfer.train.tables import refit_tables, symbol_counts
from tests.test_bundle_multirate import base_bundle, multirate


def _batches(images: torch.Tensor, size: int = 16) -> list[torch.Tensor]:
    return [images[i : i + size] for i in range(0, len(images), size)]


def test_refit_keeps_the_symbols_and_fits_the_tables_to_the_data() -> None:
    b = multirate(base_bundle())
    images = synthetic(64, seed=3)[0]
    before = [b.rate_codec(r) for r in range(b.rate_count)]
    frames = [b.edge.frame(b.edge.features(images[:1], r), 7, r) for r in range(b.rate_count)]
    fits = refit_tables(b, lambda: _batches(images))
    assert [f["rate"] for f in fits] == [0, 1, 2] and all(f["images"] == 64 for f in fits)
    # the empirical tables code the data they were fitted on in no more bits than before
    assert all(f["fit_bits_after"] <= f["fit_bits_before"] + 1e-6 for f in fits)
    new = b.rebuilt(bundle_id="mr-refit", built_by="pytest")
    assert new.spec.id == "mr-refit" and new.spec.weights_sha256 != b.spec.weights_sha256
    for r in range(b.rate_count):
        z = new.edge.features(images[:8], r)
        codec = new.rate_codec(r)
        for i in range(8):  # same symbols as before, coded with the new tables
            assert codec.symbols(z[i : i + 1]) == before[r].symbols(z[i : i + 1])
            payload = codec.encode(z[i : i + 1])
            assert torch.equal(
                codec.decode(payload), before[r].decode(before[r].encode(z[i : i + 1]))
            )
        counts, n = symbol_counts(new, _batches(images), r)
        assert n == 64 and counts.sum() == 64 * z[0].numel()
        expected = -(counts * torch.log2(new.rate_model(r).prior.freqs.double() / 2**16)).sum()
        assert fits[r]["fit_bits_after"] == pytest.approx(float(expected) / 64)
    # an old frame does not decode under the new bundle: its fingerprint changed
    assert new.fingerprint != b.fingerprint
    assert wire.decode_frame(frames[0])[0].bundle == b.fingerprint


def test_refit_needs_a_learned_prior_and_positive_smoothing() -> None:
    b = base_bundle()
    with pytest.raises(BadInput, match="alpha must be > 0"):
        refit_tables(b, lambda: [], alpha=0)
    with pytest.raises(BadInput, match="no images"):
        refit_tables(b, lambda: [])
    plain = Bundle.build(
        bundle_id="plain", model_name="fmnist_resnet", model=b.source, cut="stage2",
        unit=None, codec="quant:bits=8|ans", classes=b.spec.classes,
        preprocess=b.spec.preprocess, input_shape=(1, 28, 28), built_by="pytest",
    )  # fmt: skip
    with pytest.raises(BadInput, match="nothing to refit"):
        refit_tables(plain, lambda: _batches(synthetic(4, seed=1)[0]))


def test_refit_cli_writes_a_new_measured_bundle(tmp_path: Path) -> None:
    b = base_bundle()  # with the synthetic data's class names
    named = replace(b.spec, classes=tuple(f"class{k}" for k in range(10)))
    src = Bundle(named, b.source, b.model).save(tmp_path / "src")
    out = tmp_path / "refit"
    result = CliRunner().invoke(build_app(), [
        "train", "refit", str(src), "--out", str(out), "--data", "synthetic:10,40",
        "--bundle-id", "mr-base-refit"])  # fmt: skip
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "rate point 0: top-1" in result.output and "(was 20.00 B)" not in result.output
    spec = json.loads((out / "spec.json").read_text())
    assert spec["id"] == "mr-base-refit" and spec["built_by"]
    m = spec["metrics"]
    assert m["tables_refit"]["images"] == 40 and m["tables_refit"]["from_bundle"] == "mr-base"
    assert m["mean_session_bytes"] == pytest.approx(m["mean_payload_bytes"] + 6)
    assert Bundle.load(out).spec.metrics == m
    assert Bundle.load(src).spec.id == "mr-base"  # the old bundle is untouched


@pytest.mark.integration
def test_streamed_fashion_mnist_is_evaluated_uncropped() -> None:
    """`train evaluate --data fmnist` measures what evaluate_bundle measures on the same
    images (the streamed split is not centre-cropped)."""
    from splitinfer.data import load_fashion_mnist
    from splitinfer.data.stream import make_loader, open_streams, parse_data_spec
    from splitinfer.train.evaluate import evaluate_bundle, evaluate_bundle_stream

    try:
        x, y = load_fashion_mnist("test")
    except Exception as err:
        pytest.skip(f"no Fashion-MNIST here: {err}")
    b = Bundle.load(default_bundle_path())
    streams = open_streams(parse_data_spec("fmnist"), b.spec.input_shape)
    assert torch.equal(streams.test[3].image, x[3])
    loader = make_loader(torch.utils.data.Subset(streams.test, range(300)), 100, shuffle=False)
    streamed = evaluate_bundle_stream(b, ((bt.images, bt.labels) for bt in loader))
    direct = evaluate_bundle(b, x[:300], y[:300])
    for key in ("accuracy", "mean_frame_bytes", "mean_payload_bytes", "mean_session_bytes"):
        assert streamed[key] == direct[key], key


def test_the_context_bound_sees_a_dependence_the_factorized_tables_cannot() -> None:
    """scripts/entropy-bound.py: element 1 copies element 0, so an order-1 context codes
    it in almost nothing, while factorized tables pay a full bit for each."""
    import importlib.util

    import numpy as np

    path = Path(__file__).resolve().parents[2] / "scripts" / "entropy-bound.py"
    spec = importlib.util.spec_from_file_location("entropy_bound", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rng = np.random.default_rng(0)
    first = rng.integers(0, 2, size=4000)
    data = np.stack([first, first], axis=1)  # two symbols, the second a copy of the first
    train, test = data[:3000], data[3000:]
    factorized = mod._context_bits(train, test, 2, 0)
    order1 = mod._context_bits(train, test, 2, 1)
    assert factorized == pytest.approx(2.0, abs=0.02)  # one fair bit per symbol
    assert order1 == pytest.approx(1.0, abs=0.02)  # the copy costs ~nothing given its context
