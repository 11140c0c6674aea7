from __future__ import annotations

from collections.abc import Iterator

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--exhaustive",
        action="store_true",
        help="also run the tests marked exhaustive (every torchvision model: tens of minutes)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tiers: everything runs by default (``make test``, CI) except ``exhaustive``;
    ``make test-fast`` deselects ``slow`` and ``integration`` with ``-m``."""
    if config.getoption("--exhaustive"):
        return
    skip = pytest.mark.skip(reason="exhaustive: pass --exhaustive to run")
    for item in items:
        if "exhaustive" in item.keywords:
            item.add_marker(skip)


def fmnist_installed() -> bool:
    """Fashion-MNIST is where the loaders look (``make data`` puts it there)."""
    from splitinfer.data import fmnist_root
    from splitinfer.errors import BadInput

    try:
        fmnist_root()
    except BadInput:
        return False
    return True


#: Skip a test only for the missing data set, never for a failure of the code it calls.
needs_fmnist = pytest.mark.skipif(
    not fmnist_installed(), reason="Fashion-MNIST is not installed (make data)"
)


@pytest.fixture(autouse=True)
def _seed() -> None:
    import torch

    torch.manual_seed(0)


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """One torch thread for the test: on a busy 2-core machine, two run several times slower
    for single-image work. Use with ``pytestmark = pytest.mark.usefixtures(...)``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True, scope="session")
def _own_probe_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The planner's per-machine probe (``splitinfer plan --probe``) is read from and written
    to a fresh file: tests never see nor touch the user's stored one."""
    import os

    old = os.environ.get("SPLITINFER_PROBE")
    os.environ["SPLITINFER_PROBE"] = str(tmp_path_factory.mktemp("probe") / "probe.json")
    yield
    if old is None:
        os.environ.pop("SPLITINFER_PROBE", None)
    else:
        os.environ["SPLITINFER_PROBE"] = old
