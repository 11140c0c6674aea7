"""Errors of the planner: typed, each with a stable code and a hint at what to do next."""

from __future__ import annotations

from splitinfer.errors import BadInput


class UnknownProfile(BadInput):
    """A link, device or server name the planner does not know (the message lists known ones)."""

    code = "unknown_profile"


class BadProfileSpec(BadInput):
    """A profile spec (``custom:up=..,down=..``), a profile file or a number in it is invalid."""

    code = "bad_profile_spec"


class BadPlanInput(BadInput):
    """A model profile or rate-point file the planner cannot use (missing fields, no timings)."""

    code = "bad_plan_input"
