"""Hard caps a codec enforces on what it reads, before it allocates anything.

A decoder never trusts a size it reads from a payload: it checks the declared shape
against its caps first, decompresses with a bounded output size, and reads image
dimensions from the header before decoding pixels. Each codec is given its caps when it
is built (``codecs.create(spec, limits=...)``); there is no process-wide state. The
generic :data:`DEFAULT` caps suit any tensor; a codec that decodes only one known
feature (a bundle's) is built with :meth:`Limits.for_elements`, so a 25-byte payload
declaring a 2 x 2048 x 4096 tensor is refused before anything is allocated.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Most elements a decoded tensor may hold by default (64 Mi: a 256 MiB fp32 tensor).
MAX_ELEMENTS = 64 * 1024 * 1024
#: Most dimensions a tensor may have.
MAX_RANK = 8
#: Largest payload ``decode`` accepts by default, in bytes.
MAX_PAYLOAD_BYTES = 512 * 1024 * 1024
#: Largest byte string a zstd/deflate stage may inflate to (raw fp32 at MAX_ELEMENTS + slack).
MAX_DECODED_BYTES = 4 * MAX_ELEMENTS + 4096
#: Most pixels an image payload may declare in its header (checked before decoding).
MAX_IMAGE_PIXELS = MAX_ELEMENTS
#: A feature-sized codec allows this many times its feature, plus 64 Ki elements.
FEATURE_SLACK = 4


@dataclass(frozen=True)
class Limits:
    """The caps one codec enforces; the defaults are the module constants above."""

    max_elements: int = MAX_ELEMENTS
    max_rank: int = MAX_RANK
    max_payload_bytes: int = MAX_PAYLOAD_BYTES
    max_decoded_bytes: int = MAX_DECODED_BYTES
    max_image_pixels: int = MAX_IMAGE_PIXELS

    @classmethod
    def for_elements(cls, numel: int) -> Limits:
        """Caps for a codec that decodes tensors of about ``numel`` elements, no more.

        ``FEATURE_SLACK`` times ``numel`` plus 64 Ki elements (never above the defaults):
        room for side info and tiling, nothing near what a hostile header could declare.
        """
        cap = min(MAX_ELEMENTS, FEATURE_SLACK * numel + 65536)
        return cls(
            max_elements=cap,
            max_image_pixels=min(MAX_IMAGE_PIXELS, cap),
            max_decoded_bytes=min(MAX_DECODED_BYTES, 4 * cap + 4096),
        )


#: The generic caps: any tensor up to 64 Mi elements.
DEFAULT = Limits()
