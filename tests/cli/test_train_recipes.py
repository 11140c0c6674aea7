"""The shipped training recipes (configs/*.yaml with command sections) name real options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer

from splitinfer.cli import build_app
from splitinfer.cli.train import load_recipe
from splitinfer.errors import BadInput

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
# configs/ also holds the sweep config and bench configs (privacy-*.yaml), checked elsewhere.
RECIPES = sorted(p for p in CONFIGS.glob("*.yaml") if not p.name.startswith(("sweep", "privacy")))


def _options(command: str) -> set[str]:
    group: Any = typer.main.get_command(build_app())
    train = group.commands["train"]
    return {p.name for p in train.commands[command].params if p.name}


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_recipe_sections_name_existing_options(path: Path) -> None:
    recipe = load_recipe(path)
    assert "units" in recipe
    for command, options in recipe.items():
        unknown = set(options) - _options(command)
        assert not unknown, f"{path.name} [{command}]: no such option(s) {sorted(unknown)}"
    assert recipe["units"]["cut"]


def test_a_bad_recipe_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "r.yaml"
    bad.write_text("model: resnet50\n")
    with pytest.raises(BadInput, match="backbone:"):
        load_recipe(bad)
