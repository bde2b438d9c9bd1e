"""PNG checks shared by the chart tests: signature, IHDR size and CRC, IEND."""

from __future__ import annotations

import struct
import zlib


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, after checking the signature and the chunk's CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR"
    assert length == 13
    body = data[16:16 + length]
    (crc,) = struct.unpack(">I", data[16 + length:20 + length])
    assert crc == zlib.crc32(kind + body), "IHDR CRC mismatch"
    assert data.endswith(b"IEND\xaeB`\x82"), "PNG not terminated"
    return struct.unpack(">II", body[:8])
