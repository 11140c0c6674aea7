"""Errors of the link emulator: typed, each with a stable code and a hint at what to do next."""

from __future__ import annotations

from splitinfer.errors import BadInput, SplitInferError


class BadAddress(BadInput):
    """A listen or upstream address that is not ``host:port`` with a port in 0..65535."""

    code = "bad_address"


class BadLinkSettings(BadInput):
    """A link rate, RTT or burst that is negative, zero where it must not be, or not a number."""

    code = "bad_link_settings"


class ShaperError(SplitInferError):
    """The link shaper could not start (address in use, not permitted) or stopped abnormally."""

    code = "link_shaper_error"


class BadTrace(BadInput):
    """A link trace file that is empty, malformed, has negative rates or goes back in time.

    The message names the file and the line, e.g. ``traces/x.csv line 4: ...``.
    """

    code = "bad_trace"
