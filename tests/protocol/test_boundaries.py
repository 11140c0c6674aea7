"""Clients and tools reach the server's code only through its public modules.

What both sides share is in ``splitinfer.protocol``; a module outside ``splitinfer/cloud``
that imports a private cloud module (``cloud._x``) or a private name (``_check``) from a
cloud module is coupled to the server's internals, and fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLOUD = ROOT / "src" / "splitinfer" / "cloud"
FOLDERS = ("src", "tests", "reliability", "benchmarks", "scripts")


def _private_cloud_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
            names: list[str] = []
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules, names = [node.module], [a.name for a in node.names]
        else:
            continue
        for module in modules:
            if not module.startswith("splitinfer.cloud"):
                continue
            parts = module.split(".")[2:]
            private = [p for p in parts if p.startswith("_")]
            private += [n for n in names if n.startswith("_")]
            if private:
                where = path.relative_to(ROOT) if ROOT in path.parents else path
                found.append(f"{where}:{node.lineno} {module} {private}")
    return found


def _sources() -> list[Path]:
    files = [p for f in FOLDERS for p in sorted((ROOT / f).rglob("*.py"))]
    return [p for p in files if CLOUD not in p.parents and ".venv" not in p.parts]


def test_nothing_outside_cloud_imports_its_private_parts() -> None:
    sources = _sources()
    assert len(sources) > 100  # the scan did find the code
    offenders = [hit for p in sources for hit in _private_cloud_imports(p)]
    assert offenders == []


@pytest.mark.parametrize(
    "code",
    [
        "from splitinfer.cloud._proto import splitinfer_pb2",
        "import splitinfer.cloud._proto.splitinfer_pb2",
        "from splitinfer.cloud.dataplane import _check_described",
    ],
)
def test_the_scan_sees_a_private_import(tmp_path: Path, code: str) -> None:
    sample = tmp_path / "client.py"
    sample.write_text(code + "\n")
    assert _private_cloud_imports(sample)
