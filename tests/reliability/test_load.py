"""64 concurrent edge clients over HTTP and over gRPC streams: every request answered
exactly once, with the in-process prediction (``python -m reliability.load`` for 5,000+)."""

from __future__ import annotations

import asyncio

import pytest

from splitinfer.harness.load import run_load
from splitinfer.harness.server import ServeProcess
from splitinfer.harness.workload import Workload

pytestmark = pytest.mark.integration  # starts servers, subprocesses or heavy tools

CLIENTS, REQUESTS = 64, 512


@pytest.mark.parametrize(("transport", "first_id"), [("http", 0), ("grpc-stream", 100_000)])
def test_every_request_is_answered_exactly_once_and_right(
    served: ServeProcess, workload: Workload, transport: str, first_id: int
) -> None:
    report = asyncio.run(run_load(served, workload, transport, CLIENTS, REQUESTS, first_id))
    assert report.failures == {} and report.failed == 0
    assert (report.lost, report.duplicated, report.wrong_id) == (0, 0, 0)
    assert report.mismatched == 0
    assert report.ok == REQUESTS
    assert served.alive()
