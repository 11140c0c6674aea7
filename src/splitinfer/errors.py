"""One error root for the whole library.

Every failure splitinfer reports on purpose is a :class:`SplitInferError` subclass with a
stable machine-readable ``code``. Transports map codes to HTTP / gRPC status codes in one
table each; nothing else in the code base decides a status.

Messages say what went wrong *and* what to do next.
"""

from __future__ import annotations

from collections.abc import Sequence


class SplitInferError(Exception):
    """Root of every error splitinfer raises deliberately."""

    code: str = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- models and partitioning ------------------------------------------------------------


class UnknownModel(SplitInferError):
    """A model name that neither torchvision nor splitinfer's zoo knows."""

    code = "unknown_model"


class WeightsUnavailable(SplitInferError):
    """Weights could not be found, downloaded or loaded."""

    code = "weights_unavailable"


class WeightsMismatch(WeightsUnavailable):
    """Weights that do not fit the architecture: keys missing, unexpected or mis-shaped."""

    def __init__(
        self,
        source: str,
        missing: Sequence[str],
        unexpected: Sequence[str],
        mismatched: Sequence[str] = (),
    ) -> None:
        def shown(keys: Sequence[str]) -> str:
            return ", ".join([*keys[:8], f"... ({len(keys)} in all)"] if len(keys) > 8 else keys)

        parts = [
            f"{label} {shown(keys)}"
            for label, keys in (
                ("missing keys:", missing),
                ("unexpected keys:", unexpected),
                ("wrong shapes:", mismatched),
            )
            if keys
        ]
        super().__init__(
            f"weights from {source} do not fit this model; "
            + "; ".join(parts)
            + ". Check --model, and that num_classes / in_channels match the ones used when "
            "the weights were saved."
        )
        self.missing = list(missing)
        self.unexpected = list(unexpected)
        self.mismatched = list(mismatched)


class NoEdgeExport(SplitInferError):
    """A bundle's edge half (or whole network) cannot be offered to a browser: no ONNX export,
    or a codec the page's JavaScript coder does not implement."""

    code = "no_edge_export"


class UnknownCutPoint(SplitInferError):
    """A cut name that is not one of the model's valid cut points."""

    code = "unknown_cut_point"

    def __init__(self, name: str, valid: Sequence[str], model_name: str | None = None) -> None:
        shown = ", ".join(valid) if len(valid) <= 40 else ", ".join([*valid[:40], "..."])
        hint = f" — see `splitinfer profile {model_name}`" if model_name else ""
        super().__init__(f"no cut point {name!r}; valid: {shown}{hint}")
        self.name = name
        self.valid = list(valid)


class UntraceableModel(SplitInferError):
    """torch.fx could not trace the model, so its cut points cannot be found exactly."""

    code = "untraceable_model"


class UnsupportedModel(SplitInferError):
    """The model traced but has a structure splitinfer cannot split (e.g. two inputs)."""

    code = "unsupported_model"


class BadInput(SplitInferError):
    """An argument that is out of range or of the wrong kind."""

    code = "bad_input"


class PortInUse(BadInput):
    """A port to listen on is taken (another server, or this one still running)."""

    code = "port_in_use"


class MissingDependency(SplitInferError):
    """An optional dependency is needed for this feature; the message names the extra."""

    code = "missing_dependency"


# --- codecs and wire ---------------------------------------------------------------------


class CodecError(SplitInferError):
    """A codec could not encode or decode (bad spec, corrupt payload, non-finite input)."""

    code = "codec_error"


class BadCodecSpec(CodecError):
    """A codec spec string or dict that does not parse or names an unknown codec."""

    code = "bad_codec_spec"


class BadFrame(SplitInferError):
    """A wire frame that is truncated, corrupt, of an unknown version, or inconsistent."""

    code = "bad_frame"


class UnknownRate(BadFrame):
    """A frame (or an edge call) naming a rate point its bundle does not hold."""

    code = "unknown_rate"


class PayloadTooLarge(SplitInferError):
    """A frame, payload or decoded tensor that would exceed a hard cap."""

    code = "payload_too_large"


class HeadersTooLarge(PayloadTooLarge):
    """An HTTP request head (request line and headers) over the server's cap."""

    code = "headers_too_large"


class BadBundle(SplitInferError):
    """A bundle that is malformed, unsafe or inconsistent with its weights."""

    code = "bad_bundle"


class UnknownBundle(SplitInferError):
    """A bundle id the server does not serve."""

    code = "unknown_bundle"


class AuthError(SplitInferError):
    """Missing or wrong credentials."""

    code = "unauthenticated"


class DeadlineExceeded(SplitInferError):
    """A request was not received, or not answered, within the server's deadline."""

    code = "deadline_exceeded"


class Overloaded(SplitInferError):
    """The server's queue is full or it is draining; retry later."""

    code = "overloaded"


def require(module: str, extra: str) -> None:
    """Raise :class:`MissingDependency` if ``module`` cannot be imported."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingDependency(
            f"this feature needs the Python package {module!r}: pip install 'splitinfer[{extra}]'"
        )
