"""Fixtures for the codec tests: ``codec`` runs a test once per case in codec_cases."""

from __future__ import annotations

import pytest

from splitinfer import codecs
from tests.codecs.codec_cases import ALL_SPECS


@pytest.fixture(params=ALL_SPECS)
def codec(request: pytest.FixtureRequest) -> codecs.Pipeline:
    return codecs.create(request.param)
