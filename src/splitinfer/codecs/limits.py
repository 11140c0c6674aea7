"""Hard caps every codec enforces on what it reads, before it allocates anything.

A decoder never trusts a size it reads from a payload: it checks the declared shape
against these caps first, decompresses with a bounded output size, and reads image
dimensions from the header before decoding pixels. The values are module constants so a
deployment can read them; code reads them through this module (``limits.MAX_ELEMENTS``)
so tests can lower them.
"""

from __future__ import annotations

#: Most elements a decoded tensor may hold (64 Mi: a 256 MiB fp32 tensor).
MAX_ELEMENTS = 64 * 1024 * 1024
#: Most dimensions a tensor may have.
MAX_RANK = 8
#: Largest payload ``decode`` accepts, in bytes.
MAX_PAYLOAD_BYTES = 512 * 1024 * 1024
#: Largest byte string a zstd/deflate stage may inflate to (raw fp32 at MAX_ELEMENTS + slack).
MAX_DECODED_BYTES = 4 * MAX_ELEMENTS + 4096
#: Most pixels an image payload may declare in its header (checked before decoding).
MAX_IMAGE_PIXELS = MAX_ELEMENTS
