"""The status tables and retryable codes: one entry per error code, transports agree."""

from __future__ import annotations

import pytest

from splitinfer import errors
from splitinfer.protocol import (
    GRPC_STATUS,
    HTTP_STATUS,
    RETRYABLE_CODES,
    RETRYABLE_GRPC,
    RETRYABLE_HTTP,
    grpc_status,
    grpc_status_name,
    http_status,
    is_retryable,
)


def _client_facing_codes() -> set[str]:
    """Codes of the typed errors a server answers with (everything in the HTTP table)."""
    codes = {
        cls.code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.SplitInferError)
    }
    return codes & set(HTTP_STATUS)


def test_both_tables_know_the_same_codes() -> None:
    assert set(HTTP_STATUS) == set(GRPC_STATUS)
    assert _client_facing_codes() == set(HTTP_STATUS)  # every table code is a real error code


def test_unknown_codes_are_server_faults() -> None:
    assert http_status("internal") == 500 and grpc_status_name("internal") == "INTERNAL"


def test_grpc_names_are_real_status_codes() -> None:
    grpc = pytest.importorskip("grpc")
    for code, name in GRPC_STATUS.items():
        assert grpc_status(code) is getattr(grpc.StatusCode, name)


def test_retryable_codes_map_to_retryable_statuses() -> None:
    for code in RETRYABLE_CODES:
        assert is_retryable(code)
        assert http_status(code) in RETRYABLE_HTTP and grpc_status_name(code) in RETRYABLE_GRPC
    for code in set(HTTP_STATUS) - set(RETRYABLE_CODES):
        assert not is_retryable(code)
        assert http_status(code) not in RETRYABLE_HTTP
        assert grpc_status_name(code) not in RETRYABLE_GRPC
