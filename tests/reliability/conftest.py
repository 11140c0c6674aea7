"""The ``splitinfer serve`` processes of the quick reliability checks, and their frames.

"served" is a subprocess on loopback with the default bundle, a bearer token (from the
environment, never the command line), gRPC, a 64 KiB body cap and ``--log-level debug``
(its whole output goes to a file the secret checks grep); "doomed" is the one the fault
checks kill. Both boot at once. The workload is the first 64 Fashion-MNIST test images
through the default bundle's edge half. "served" also serves a plain (non-learned) bundle,
random weights with a ``quant|ans`` codec: its payloads declare their dtype and shape, so
the dtype refusal and the decode caps are exercised whatever the default bundle's codec.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from splitinfer.bundle import default_bundle_path
from splitinfer.harness import server as srv
from splitinfer.harness.workload import Workload, load_workload
from tests.cloud.conftest import CODEC, build

CAP = 64 * 1024
"""Body cap of the session server (SPLITINFER_MAX_BODY_BYTES)."""


DEADLINE_S = 2.0
"""``--request-timeout-s`` of the server the fault checks kill, restart and drain."""
DOOMED = ("--torch-threads", "1", "--log-level", "warning", "--request-timeout-s", str(DEADLINE_S))
"""Its flags (the restarted one gets the same)."""


@pytest.fixture(scope="session")
def token() -> str:
    return "rel-" + os.urandom(16).hex()


@pytest.fixture(scope="session")
def plain_bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A non-learned bundle: random weights, ``quant:bits=4,clip=0:1|ans``."""
    folder = tmp_path_factory.mktemp("plain") / "fmnist-plain"
    return build("fmnist-plain", CODEC).save(folder)


@pytest.fixture(scope="session")
def booting(
    token: str, tmp_path_factory: pytest.TempPathFactory, plain_bundle_dir: Path
) -> Iterator[dict[str, srv.ServeProcess]]:
    """Both servers of the session, launched at once so they boot side by side: "served"
    (most checks) and "doomed" (killed and restarted, then drained, by test_faults)."""
    bundle = [default_bundle_path()]
    logs = tmp_path_factory.mktemp("serve")
    base = ["--torch-threads", "1"]
    servers = {
        "served": srv.launch(
            [*bundle, plain_bundle_dir],
            token=token,
            extra=[*base, "--log-level", "debug"],
            log_path=logs / "served.log",
            env={"SPLITINFER_MAX_BODY_BYTES": str(CAP)},
        ),
        "doomed": srv.launch(bundle, token=token, extra=DOOMED, log_path=logs / "doomed.log"),
    }
    try:
        yield servers
    finally:
        for server in servers.values():
            server.terminate()


@pytest.fixture(scope="session")
def workload(booting: dict[str, srv.ServeProcess]) -> Workload:
    return load_workload(pool=64)  # while the servers boot


@pytest.fixture(scope="session")
def plain_workload(booting: dict[str, srv.ServeProcess], plain_bundle_dir: Path) -> Workload:
    """The same images through the plain bundle (see the module docstring)."""
    return load_workload(plain_bundle_dir, pool=16)


@pytest.fixture(scope="session")
def served(booting: dict[str, srv.ServeProcess], workload: Workload) -> srv.ServeProcess:
    srv.wait_ready(booting["served"])
    return booting["served"]
