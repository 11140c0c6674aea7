"""The wheel works once installed: build it, install it into a fresh virtual environment
that reuses this interpreter's packages (torch above all: no network), and run
``splitinfer demo --quick`` from a folder outside the source tree, so the default bundle
must come from the package data, not from the checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import needs_fmnist

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run ``args``; fail the test with the output when it fails."""
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    build = tmp_path_factory.mktemp("build")  # setuptools' build/ stays out of the checkout
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(ROOT)], cwd=build)  # fmt: skip
    (found,) = out.glob("splitinfer-*.whl")
    return found


def test_the_wheel_carries_the_default_bundle_and_the_stub_hints(wheel: Path) -> None:
    from splitinfer.bundle import DEFAULT_BUNDLE_ID

    names = set(zipfile.ZipFile(wheel).namelist())
    for file in ("spec.json", "weights.safetensors"):
        assert f"splitinfer/bundles/{DEFAULT_BUNDLE_ID}/{file}" in names
    assert "splitinfer/py.typed" in names
    assert not any(n.startswith(("tests/", "reliability/")) for n in names)


@needs_fmnist
def test_the_installed_wheel_runs_the_quick_demo_outside_the_checkout(
    wheel: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    # The packages installed beside this interpreter (torch, ...), as plain path entries: no
    # .pth of theirs runs, so no editable install of the checkout comes along.
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(run([str(python), "-c", purelib], cwd=tmp_path).strip())
    here = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "base-packages.pth").write_text("\n".join(sorted(here)) + "\n")
    run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
         "--ignore-installed", str(wheel)], cwd=tmp_path)  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.pop("SPLITINFER_DEFAULT_BUNDLE", None)
    where = run([str(python), "-c", "import splitinfer; print(splitinfer.__file__)"],
                cwd=tmp_path, env=env)  # fmt: skip
    assert Path(where.strip()).is_relative_to(venv), where
    out = tmp_path / "demo"
    run([str(venv / "bin" / "splitinfer"), "demo", "--quick", "--out", str(out)],
        cwd=tmp_path, env=env)  # fmt: skip
    results = json.loads((out / "results.json").read_text())
    assert Path(results["config"]["bundle"]).is_relative_to(venv)
    assert (out / "report.md").is_file()
