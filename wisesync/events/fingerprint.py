"""CRC-64-AVRO (Rabin) fingerprints of schemas, as the Avro specification defines them."""

from __future__ import annotations

_EMPTY = 0xC15D213AA4D7A795
_MASK = (1 << 64) - 1


def _table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY & -(fp & 1) & _MASK)
        table.append(fp)
    return table


_TABLE = _table()


def rabin64(data: bytes) -> int:
    """The 64-bit Rabin fingerprint of ``data`` (a schema's parsing canonical form)."""
    fp = _EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return fp
