"""The one codec registry: stage name -> :class:`StageInfo`.

Open for extension: a learned-prior entropy coder registers a :class:`Coder` here under a
new name and becomes usable in specs (``quant:bits=8|myprior``) and is picked up by the
registry-parametrized tests at once.
"""

from __future__ import annotations

from splitinfer.codecs.stage import StageInfo
from splitinfer.errors import BadCodecSpec
from splitinfer.registry import Registry

CODECS: Registry[StageInfo] = Registry("codec", missing=BadCodecSpec)


def register(info: StageInfo) -> StageInfo:
    """Add a stage to :data:`CODECS` (raises on a duplicate name)."""
    CODECS.add(info.name, info)
    return info


def list_codecs() -> list[str]:
    """Every registered stage name, sorted."""
    return CODECS.names()
