from __future__ import annotations

import json
from pathlib import Path

import pytest

from splitinfer.experiments.readme import (
    BEGIN,
    END,
    check_readme,
    extract_block,
    render_block,
    replace_block,
)
from tests.experiments.fixtures import results_doc

ROOT = Path(__file__).resolve().parents[2]


def _script() -> object:
    import importlib.util

    spec = importlib.util.spec_from_file_location("readme_results", ROOT / "scripts" /
                                                  "readme_results.py")  # fmt: skip
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_block_labels_every_column_and_states_machine_and_command() -> None:
    block = render_block(results_doc())
    assert block.startswith(BEGIN) and block.rstrip().endswith(END)
    assert "latency (ms, modeled)" in block and "p50 (ms, measured)" in block
    assert "AMD EPYC, 2 cores" in block and "`splitinfer bench`" in block
    assert "split \\| cut" in block  # pipes in cells do not break the table
    assert "| 12.25 | 1,234 | 2.00x |" in block
    assert "Not in this run: `rate-accuracy` (skipped: not available: run X)" in block
    assert block == render_block(results_doc())  # deterministic


def test_check_and_replace(tmp_path: Path) -> None:
    block = render_block(results_doc())
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\nintro\n")
    assert "no <!-- results:begin -->" in (check_readme(readme, block) or "")
    readme.write_text(replace_block(readme.read_text(), block))
    assert check_readme(readme, block) is None
    assert extract_block(readme.read_text()) == block
    stale = results_doc()
    stale["experiments"]["seeds"]["tables"][0]["rows"][0]["ms"] = 99.0
    diff = check_readme(readme, render_block(stale))
    assert diff and "99.00" in diff
    # Replacing keeps what is around the block.
    readme.write_text("before\n" + block + "after\n")
    assert replace_block(readme.read_text(), block) == "before\n" + block + "after\n"


def test_script_check_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = _script()
    results = tmp_path / "results.json"
    results.write_text(json.dumps(results_doc()))
    readme = tmp_path / "README.md"
    readme.write_text("# x\n")
    main = script.main  # type: ignore[attr-defined]
    assert main([str(results), "--readme", str(readme), "--check"]) == 1
    assert main([str(results), "--readme", str(readme), "--write"]) == 0
    assert main([str(results), "--readme", str(readme), "--check"]) == 0
    capsys.readouterr()
    assert main([str(results)]) == 0
    assert capsys.readouterr().out == render_block(results_doc())
    (tmp_path / "bad.json").write_text("{}")
    assert main([str(tmp_path / "bad.json"), "--check"]) == 2
