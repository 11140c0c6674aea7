"""Feature codecs: tensor -> bytes -> tensor, as a pipeline of registered stages.

    >>> from splitinfer import codecs
    >>> codec = codecs.create("quant:bits=8,clip=p99.9|tile|jpeg:quality=20")
    >>> payload = codec.encode(features)        # bytes, self-contained given the spec
    >>> restored = codec.decode(payload)        # same shape and dtype
    >>> str(codec.spec)                         # canonical spec string
    'quant:bits=8,clip=p99.9|tile:align=1|jpeg:quality=20'

A codec whose state is trained and held by a bundle (the learned prior's integer
tables, ``learned:levels=L,tables=...``; see :mod:`splitinfer.codecs.learned`) is built by
the same factory, with its state handed in: ``create(spec, state=CodecState(...))``.
Every codec is given its decode caps when built (``limits=``; see
:mod:`splitinfer.codecs.limits`).

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
from splitinfer.codecs.learned import CodecState, LearnedCodec, LearnedSpec, is_learned_spec
from splitinfer.codecs.limits import DEFAULT, Limits
from splitinfer.codecs.pipeline import Pipeline, Tolerance
from splitinfer.codecs.spec import Spec, SpecLike, StageSpec, format_spec, parse_spec
from splitinfer.codecs.stage import Coder, Compressor, Kind, StageInfo, Transform
from splitinfer.errors import BadCodecSpec

del ans, compress, image, jpegxl, quant, raw, tile  # imported to register their stages


def create(spec: SpecLike, *, state: CodecState | None = None, limits: Limits = DEFAULT) -> Codec:
    """Build the codec for a spec string, dict, list of dicts or :class:`Spec`.

    ``state`` is what a stateful codec (``learned:...``) is built with: its feature shape
    and integer tables; stateless codecs take none. ``limits`` are the caps the codec
    enforces on what it decodes.

    Raises :class:`~splitinfer.errors.BadCodecSpec` for syntax errors, unknown names
    (the message lists the known ones), unknown or out-of-range parameters, stage
    orders that cannot work, and a state missing or given where it does not belong.
    """
    if is_learned_spec(spec):
        if state is None:
            raise BadCodecSpec(f"codec {spec} is built with its tables (a bundle holds them)")
        return LearnedCodec(LearnedSpec.parse(str(spec)), state, limits)
    if state is not None:
        raise BadCodecSpec(f"codec {spec} takes no state")
    return Pipeline(spec, limits)


def needs_state(spec: SpecLike) -> bool:
    """True for a codec built with a trained state (``learned:...``: its tables)."""
    return is_learned_spec(spec)


def canonical_text(spec: SpecLike) -> str:
    """The canonical text of any codec spec, stateful or not; BadCodecSpec if invalid."""
    if is_learned_spec(spec):
        return str(LearnedSpec.parse(str(spec)))
    return str(canonical(spec))


__all__ = [
    "CODECS",
    "DEFAULT",
    "Codec",
    "CodecState",
    "Coder",
    "Compressor",
    "Kind",
    "LearnedCodec",
    "LearnedSpec",
    "Limits",
    "Pipeline",
    "Spec",
    "SpecLike",
    "StageInfo",
    "StageSpec",
    "Tolerance",
    "Transform",
    "canonical",
    "canonical_text",
    "create",
    "format_spec",
    "list_codecs",
    "needs_state",
    "parse_spec",
    "register",
]
