"""Fixtures for the codec tests: ``codec`` runs a test once per case in codec_cases."""

from __future__ import annotations

import pytest
from codec_cases import ALL_SPECS

from splitinfer import codecs


@pytest.fixture(params=ALL_SPECS)
def codec(request: pytest.FixtureRequest) -> codecs.Pipeline:
    return codecs.create(request.param)
