"""Read a JPEG XL codestream's image size from its SizeHeader, before decoding.

ISO/IEC 18181-1, section D.2: after the ``FF 0A`` signature, bit-packed LSB first:
``small`` (1 bit); height as ``(u(5)+1)*8`` when small, else ``U32(u(9), u(13), u(18),
u(30)) + 1``; ``ratio`` (3 bits); width likewise when ``ratio == 0``, else height times a
fixed aspect ratio. In an ISOBMFF container (libjxl writes one for 16-bit samples, to
hold the ``jxll`` level box) the codestream is the payload of the ``jxlc`` box or of the
first ``jxlp`` box (after its 4-byte index).
"""

from __future__ import annotations

import struct

from splitinfer.errors import CodecError

_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}
_U32_BITS = (9, 13, 18, 30)
_CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"
_MAX_BOXES = 16


class _BitReader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def u(self, n: int) -> int:
        value = 0
        for i in range(n):
            byte = self.pos >> 3
            if byte >= len(self.data):
                raise CodecError("truncated JPEG XL header")
            value |= ((self.data[byte] >> (self.pos & 7)) & 1) << i
            self.pos += 1
        return value

    def dim(self, small: int) -> int:
        if small:
            return (self.u(5) + 1) * 8
        return self.u(_U32_BITS[self.u(2)]) + 1


def codestream(data: bytes) -> bytes:
    """The codestream of a bare stream or of an ISOBMFF JPEG XL container."""
    if not data.startswith(_CONTAINER):
        return data
    pos = 0
    for _ in range(_MAX_BOXES):
        if pos + 8 > len(data):
            break
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = len(data) if size == 0 else pos + size
        if kind == b"jxlc":
            return data[pos + 8 : end]
        if kind == b"jxlp":
            return data[pos + 12 : end]
        if size < 8:
            break
        pos = end
    raise CodecError("JPEG XL container without a codestream box")


def jxl_size(data: bytes) -> tuple[int, int]:
    """(width, height) declared by a JPEG XL codestream or container."""
    data = codestream(data)
    if data[:2] != b"\xff\x0a":
        raise CodecError("not a JPEG XL codestream (expected signature FF 0A)")
    bits = _BitReader(data[2:16])
    small = bits.u(1)
    height = bits.dim(small)
    ratio = bits.u(3)
    if ratio == 0:
        return bits.dim(small), height
    num, den = _RATIOS[ratio]
    return height * num // den, height
