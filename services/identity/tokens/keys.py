"""Signing-key material: generation, JWK export, encryption at rest."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwk

from services.common.errors import AppError


class SigningKeyUnavailable(AppError):
    """The active signing key cannot be decrypted: the database was made (or restored) with another
    ``IDENTITY_KEY_ENCRYPTION_SECRET``. Tokens already issued still verify (the JWKS holds public keys only)."""

    status, title, slug = 503, "Token signing key unavailable", "signing-key-unavailable"


def decrypt(fernet: Fernet, private_key_encrypted: bytes, kid: str) -> bytes:
    try:
        return fernet.decrypt(private_key_encrypted)
    except InvalidToken as exc:
        raise SigningKeyUnavailable(
            f"Identity's signing key {kid} cannot be decrypted with the configured IDENTITY_KEY_ENCRYPTION_SECRET: "
            "it was encrypted under another secret (a restore without the secret it was backed up with?). Configure "
            "that secret, or start a new signing key (python -m services bootstrap --new-signing-key)."
        ) from exc


def fernet_for(secret: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))


def new_private_key_pem(algorithm: str) -> bytes:
    if algorithm == "ES256":
        key: Any = ec.generate_private_key(ec.SECP256R1())
    elif algorithm == "RS256":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        raise ValueError(f"unsupported signing algorithm {algorithm}")
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def public_jwk(private_pem: bytes, algorithm: str, kid: str) -> dict[str, Any]:
    private = serialization.load_pem_private_key(private_pem, password=None)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    data = jwk.construct(public_pem, algorithm).to_dict()
    data = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in data.items()}
    data.update(kid=kid, use="sig", alg=algorithm)
    return data


def new_kid() -> str:
    return secrets.token_urlsafe(12)
