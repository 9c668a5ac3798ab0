"""Bitstring Status List v1.0 encoding: index 0 is the most significant bit of the first byte; ``encodedList``
is the GZIP-compressed bitstring, base64url without padding, with the multibase prefix ``u``."""

from __future__ import annotations

import gzip
import io
import secrets

from services.credentials.proofs.multibase import decode_base64url, encode_base64url

#: the specification's minimum list length, in bits
MIN_SIZE = 131_072


def empty(size: int) -> bytes:
    return bytes((size + 7) // 8)


def get_bit(bits: bytes, index: int) -> bool:
    return bool(bits[index >> 3] & (0x80 >> (index & 7)))


def set_bit(bits: bytes | bytearray, index: int, value: bool) -> bytes:
    out = bytearray(bits)
    if value:
        out[index >> 3] |= 0x80 >> (index & 7)
    else:
        out[index >> 3] &= ~(0x80 >> (index & 7)) & 0xFF
    return bytes(out)


def encode(bits: bytes) -> str:
    return encode_base64url(gzip.compress(bits, compresslevel=9, mtime=0))


def decode(encoded: str, max_bytes: int = 16 * 1024 * 1024) -> bytes:
    """Raises ``ValueError`` for anything that is not a well-formed encoded list."""
    compressed = decode_base64url(encoded)
    with gzip.GzipFile(fileobj=io.BytesIO(compressed)) as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError("the status list is too large")
    return data


def allocate(allocated: bytes, size: int, count: int) -> tuple[bytes, list[int]]:
    """``count`` free indexes chosen uniformly at random (so an index says nothing about issue order), and the
    updated allocation map. The caller makes sure enough of the list is free."""
    out = bytearray(allocated)
    chosen: list[int] = []
    while len(chosen) < count:
        index = secrets.randbelow(size)
        mask = 0x80 >> (index & 7)
        if out[index >> 3] & mask:
            continue
        out[index >> 3] |= mask
        chosen.append(index)
    return bytes(out), chosen
