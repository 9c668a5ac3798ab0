"""Multibase (base58btc, ``z`` prefix; base64url, ``u`` prefix) and Multikey encodings of Ed25519 keys."""

from __future__ import annotations

import base64

import base58

#: multicodec varint prefix of an Ed25519 public key (0xed)
ED25519_PUB = b"\xed\x01"


class MultibaseError(ValueError):
    pass


def encode_base58btc(data: bytes) -> str:
    return "z" + base58.b58encode(data).decode("ascii")


def decode_base58btc(value: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("z") or len(value) < 2:
        raise MultibaseError("not a base58btc multibase value (must start with 'z')")
    try:
        return base58.b58decode(value[1:])
    except ValueError as exc:
        raise MultibaseError("malformed base58btc value") from exc


def encode_base64url(data: bytes) -> str:
    return "u" + base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def decode_base64url(value: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("u"):
        raise MultibaseError("not a base64url multibase value (must start with 'u')")
    body = value[1:]
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (ValueError, TypeError) as exc:
        raise MultibaseError("malformed base64url value") from exc


def ed25519_multikey(public_key: bytes) -> str:
    """``publicKeyMultibase`` of a Multikey: base58btc of the multicodec-prefixed raw key."""
    if len(public_key) != 32:
        raise MultibaseError("an Ed25519 public key has 32 bytes")
    return encode_base58btc(ED25519_PUB + public_key)


def ed25519_from_multikey(value: str) -> bytes:
    raw = decode_base58btc(value)
    if len(raw) != 34 or not raw.startswith(ED25519_PUB):
        raise MultibaseError("not an Ed25519 Multikey")
    return raw[2:]
