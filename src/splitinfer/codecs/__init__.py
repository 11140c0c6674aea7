"""Feature codecs: tensor -> bytes -> tensor, as a pipeline of registered stages.

    >>> from splitinfer import codecs
    >>> codec = codecs.create("quant:bits=8,clip=p99.9|tile|jpeg:quality=20")
    >>> payload = codec.encode(features)        # bytes, self-contained given the spec
    >>> restored = codec.decode(payload)        # same shape and dtype
    >>> str(codec.spec)                         # canonical spec string
    'quant:bits=8,clip=p99.9|tile:align=1|jpeg:quality=20'

Stages (:func:`list_codecs`): transforms ``quant``, ``tile``; coders ``raw``, ``png``,
``jpeg``, ``webp``, ``avif``, ``jpegxl``, ``ans``; compressors ``zstd``, ``deflate``.
See :mod:`splitinfer.codecs.canonical` for how a spec is completed and made canonical,
:mod:`splitinfer.codecs.limits` for the decoder's hard caps, and
:mod:`splitinfer.experiments.codecbench` for measurements. Optional libraries (zstandard,
constriction, imagecodecs, Pillow) are imported only by the stages that use them.
"""

from __future__ import annotations

from splitinfer.codecs import ans, compress, image, jpegxl, quant, raw, tile
from splitinfer.codecs.base import Codec
from splitinfer.codecs.canonical import canonical
from splitinfer.codecs.catalog import CODECS, list_codecs, register
from splitinfer.codecs.pipeline import Pipeline, Tolerance
from splitinfer.codecs.spec import Spec, SpecLike, StageSpec, format_spec, parse_spec
from splitinfer.codecs.stage import Coder, Compressor, Kind, StageInfo, Transform

del ans, compress, image, jpegxl, quant, raw, tile  # imported to register their stages


def create(spec: SpecLike) -> Pipeline:
    """Build the codec for a spec string, dict, list of dicts or :class:`Spec`.

    Raises :class:`~splitinfer.errors.BadCodecSpec` for syntax errors, unknown names
    (the message lists the known ones), unknown or out-of-range parameters, and stage
    orders that cannot work.
    """
    return Pipeline(spec)


__all__ = [
    "CODECS",
    "Codec",
    "Coder",
    "Compressor",
    "Kind",
    "Pipeline",
    "Spec",
    "SpecLike",
    "StageInfo",
    "StageSpec",
    "Tolerance",
    "Transform",
    "canonical",
    "create",
    "format_spec",
    "list_codecs",
    "parse_spec",
    "register",
]
