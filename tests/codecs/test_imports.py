"""The codec library imports and builds without optional packages."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from splitinfer import codecs
from splitinfer.errors import MissingDependency


def test_core_import_needs_no_optional_package() -> None:
    code = (
        "import sys, torch, splitinfer.codecs as c; c.create('quant|raw').encode(torch.ones(3));"
        "opt = ('PIL', 'zstandard', 'constriction', 'imagecodecs');"
        "bad = [m for m in opt if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("spec", "module"),
    [("zstd", "zstandard"), ("ans", "constriction"), ("png", "PIL"), ("jpegxl", "imagecodecs")],
)
def test_missing_dependency(monkeypatch: pytest.MonkeyPatch, spec: str, module: str) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a)
    )
    with pytest.raises(MissingDependency, match=r"splitinfer\[codecs\]"):
        codecs.create(spec).encode(torch.ones(2, 2))
