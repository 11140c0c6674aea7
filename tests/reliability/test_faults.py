"""Faults, quick versions (``python -m reliability.faults`` runs them full size): a server
SIGKILLed and restarted under two edge runners, then slow clients and a SIGTERM drain on the
restarted one; a link cut mid-frame and mid-answer; a burst beyond the queue."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reliability import faults
from splitinfer.cloud import DataPlane
from splitinfer.cloud.server import bound_port, serve_in_thread
from splitinfer.cloud.settings import ServeSettings
from splitinfer.harness.server import Endpoint, ServeProcess
from splitinfer.harness.workload import Workload
from tests.reliability.conftest import DEADLINE_S, DOOMED

pytestmark = pytest.mark.integration  # starts servers, subprocesses or heavy tools


@pytest.fixture(scope="module")
def killed_then_drained(
    booting: dict[str, ServeProcess], workload: Workload, token: str
) -> dict[str, faults.Scenario]:
    """kill -9 + restart; on the restarted server: slow clients, then SIGTERM."""
    after: dict[str, faults.Scenario] = {}

    def then(server: ServeProcess) -> None:
        after["slow-clients"] = faults.slow_clients(server, workload, DEADLINE_S, crowd=8)
        after["drain"] = faults.drain(server, workload, uploading=3, watch_s=DEADLINE_S / 3)

    kill = faults.kill_and_restart(
        workload,
        images=16,
        kill_at=4,
        down_for=2,
        token=token,
        extra=DOOMED,
        then=then,
        first=booting["doomed"],
    )
    return {"kill": kill, **after}


@pytest.mark.parametrize("name", ["kill", "slow-clients", "drain"])
def test_kill_restart_slow_clients_and_drain(
    killed_then_drained: dict[str, faults.Scenario], name: str
) -> None:
    scenario = killed_then_drained[name]
    assert scenario.passed, (scenario.problems, scenario.counts)


@pytest.mark.parametrize("answers", [False, True], ids=["mid-frame", "mid-answer"])
def test_a_link_cut_is_retried_and_answered_once(
    served: ServeProcess, workload: Workload, answers: bool
) -> None:
    scenario = faults.link_cut(served, workload, images=12, every=4, answers=answers)
    assert scenario.passed, (scenario.problems, scenario.counts)
    assert scenario.counts["cuts"] == scenario.counts["retried"] > 0


@pytest.fixture
def small_queue(workload: Workload, token: str) -> Iterator[Endpoint]:
    """An in-process server whose batcher waits 300 ms and admits 4: easy to fill."""
    settings = ServeSettings(
        bundles=[], port=0, token=token, log_level="warning", drain_timeout_s=5
    )
    dp = DataPlane([workload.bundle], max_batch=64, max_wait_ms=300, max_queue=4)
    with serve_in_thread(settings, dp) as (_, server):
        yield Endpoint(port=bound_port(server), token=token)


def test_a_full_queue_sheds_then_recovers(small_queue: Endpoint, workload: Workload) -> None:
    scenario = faults.shed(
        small_queue, workload, burst=32, rounds=1, recovery=4, edge_clients=4, edge_images=2
    )
    assert scenario.passed, (scenario.problems, scenario.counts)
