"""Turn any failure inside a third-party codec library into :class:`CodecError`.

Decoders of untrusted bytes (Pillow, imagecodecs, zstandard, constriction) raise their own
exception types, and Rust extensions raise ``PanicException``, which derives from
``BaseException``. Inside :func:`third_party` all of these become ``CodecError``; our own
typed errors, KeyboardInterrupt and SystemExit pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from splitinfer.errors import CodecError, SplitInferError


@contextmanager
def third_party(what: str) -> Iterator[None]:
    """Context manager: re-raise foreign exceptions from ``what`` as CodecError."""
    try:
        yield
    except SplitInferError:
        raise
    except Exception as err:
        raise CodecError(f"{what} failed: {type(err).__name__}: {err}") from err
    except BaseException as err:
        if type(err).__name__ != "PanicException":
            raise
        raise CodecError(f"{what} failed: {err}") from err
