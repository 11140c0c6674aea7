"""Cloud-only's input size: measured on sample photos for RGB models, labelled with them."""

from __future__ import annotations

import importlib.util

import pytest

from splitinfer.plan.inputs import default_input_encoding, measured_input_encoding


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="no matplotlib")
def test_rgb_inputs_are_measured_on_the_sample_photos() -> None:
    enc = measured_input_encoding((1, 3, 224, 224))
    assert "sample photos at 224x224" in enc.source and "measured now" in enc.source
    assert 1_000 < enc.bytes < 150_528  # a JPEG, smaller than the raw 8-bit image
    small = measured_input_encoding((1, 3, 64, 64))
    assert small.bytes < enc.bytes and "64x64" in small.source  # measured, not a constant
    two = measured_input_encoding((2, 3, 64, 64))
    assert two.bytes == pytest.approx(2 * small.bytes) and "x2 (batch)" in two.source


def test_other_inputs_keep_their_labelled_default() -> None:
    assert measured_input_encoding((1, 1, 28, 28)) == default_input_encoding((1, 1, 28, 28))
