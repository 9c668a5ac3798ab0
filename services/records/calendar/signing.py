"""The platform's signature on exported reports: a JWS (RFC 7515) with EdDSA over Ed25519 (RFC 8037), compact
serialisation, attached or detached (RFC 7515 Appendix F). The key is derived from records' ``secret_key`` with
HKDF-SHA256 (info ``vet records report signing v1``), so every replica signs with the same key and nothing more is
stored; changing ``RECORDS_SECRET_KEY`` changes the key (exports signed before still verify against the key id
they name only while it is published — keep the old JWKS with the archived exports). The public key is served as a
JWKS at ``/v1/report-signing-keys``."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

INFO = b"vet records report signing v1"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@lru_cache(maxsize=8)
def _key(secret: str) -> Ed25519PrivateKey:
    seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(secret.encode())
    return Ed25519PrivateKey.from_private_bytes(seed)


def _raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def kid_of(secret: str) -> str:
    return "records-report-" + hashlib.sha256(_raw_public(_key(secret))).hexdigest()[:16]


def jwks(secret: str) -> dict[str, Any]:
    return {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": b64url(_raw_public(_key(secret))), "kid": kid_of(secret),
                      "alg": "EdDSA", "use": "sig"}]}


def sign(secret: str, payload: bytes, content_type: str, *, detached: bool) -> str:
    header = {"alg": "EdDSA", "kid": kid_of(secret), "typ": "JOSE", "cty": content_type}
    protected = b64url(json.dumps(header, separators=(",", ":")).encode())
    body = b64url(payload)
    signature = b64url(_key(secret).sign(f"{protected}.{body}".encode("ascii")))
    return f"{protected}..{signature}" if detached else f"{protected}.{body}.{signature}"


def verify(jwk_set: dict[str, Any], token: str, payload: bytes | None = None) -> bytes:
    """The payload of a valid JWS (``payload`` given for a detached one); raises ``ValueError`` otherwise. What a
    receiver does, kept here for the tests and the README."""
    protected, body, signature = token.split(".")
    header = json.loads(b64url_decode(protected))
    if header.get("alg") != "EdDSA":
        raise ValueError("not an EdDSA JWS")
    if payload is not None:
        if body:
            raise ValueError("expected a detached JWS")
        body = b64url(payload)
    key = next((k for k in jwk_set["keys"] if k.get("kid") == header.get("kid")), None)
    if key is None:
        raise ValueError("unknown key id")
    try:
        Ed25519PublicKey.from_public_bytes(b64url_decode(key["x"])).verify(b64url_decode(signature), f"{protected}.{body}".encode("ascii"))
    except Exception as exc:  # cryptography's InvalidSignature
        raise ValueError("bad signature") from exc
    return b64url_decode(body)
