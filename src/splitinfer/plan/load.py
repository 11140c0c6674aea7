"""Read a model profile for the planner, turning every malformed file into a clear error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from splitinfer.plan.errors import BadPlanInput

PROFILE_FORMAT = "splitinfer.profile/1"


def load_model_profile(path: str | Path) -> Any:
    """A ``ModelProfile`` from ``splitinfer profile M --json PATH``, else :class:`BadPlanInput`."""
    from splitinfer.partition.profile import ModelProfile

    try:
        data = json.loads(Path(path).read_text())
    except OSError as err:
        raise BadPlanInput(f"cannot read profile {path}: {err.strerror or err}") from None
    except json.JSONDecodeError as err:
        raise BadPlanInput(
            f"{path} is not JSON ({err}); make one with `splitinfer profile MODEL --json {path}`"
        ) from None
    if not isinstance(data, dict) or data.get("format") != PROFILE_FORMAT:
        raise BadPlanInput(
            f"{path} is not a model profile (expected format {PROFILE_FORMAT!r}); "
            f"make one with `splitinfer profile MODEL --json {path}`"
        )
    try:
        return ModelProfile.from_json(data)
    except (KeyError, TypeError, ValueError) as err:
        raise BadPlanInput(f"{path}: malformed profile ({type(err).__name__}: {err})") from None
