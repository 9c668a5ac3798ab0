"""Issuers' Ed25519 keys and their protection at rest.

Private keys are stored sealed by a :class:`KeyProtector`. :class:`MasterKeyProtector` seals with AES-256-GCM
under a key derived (HKDF-SHA256) from the master key in configuration, binding each sealed key to its issuer and
key id (associated data), so a sealed key copied to another row does not open. A KMS or HSM can implement the
same two methods later; ``key_ref`` is stored with every sealed key so keys sealed under different protectors or
master keys can coexist during a migration."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Protocol

from cachetools import LRUCache
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from services.common.errors import AppError

NONCE_BYTES = 12


class KeyUnavailable(AppError):
    """A sealed key cannot be opened (wrong master key, tampered row, unknown protector): issuing and status
    changes answer 503 naming the setting; verification needs public keys only and keeps working."""

    status, title, slug = 503, "Issuer key unavailable", "issuer-key-unavailable"


class KeyProtector(Protocol):
    #: names the protector and master key version that sealed a key
    key_ref: str

    def seal(self, private_key: bytes, context: bytes) -> bytes: ...

    def open(self, sealed: bytes, context: bytes) -> bytes: ...


class MasterKeyProtector:
    """AES-256-GCM under HKDF(master key). ``key_ref`` is ``"master:<8 hex of the derived key's hash>"``, so a
    change of master key is visible in the rows it sealed."""

    def __init__(self, master_key: str) -> None:
        if not master_key:
            raise ValueError("a master key is required")
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"vet-credentials", info=b"issuer-key-seal-v1").derive(
            master_key.encode("utf-8")
        )
        self._aead = AESGCM(derived)
        self.key_ref = "master:" + hashlib.sha256(derived).hexdigest()[:8]

    def seal(self, private_key: bytes, context: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, private_key, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        try:
            return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context)
        except (InvalidTag, ValueError) as exc:
            raise KeyUnavailable(
                "The issuer's signing key cannot be opened with the configured CREDENTIALS_KEY_ENCRYPTION_KEY: it was "
                "sealed under another key (a restore without the key it was backed up with?). Nothing can be issued, "
                "revoked or suspended until that key is configured; verification is unaffected."
            ) from exc


@dataclass(frozen=True)
class NewKey:
    public_key: bytes
    sealed_private_key: bytes
    key_ref: str


def seal_context(issuer_code: str, key_id: str) -> bytes:
    return f"{issuer_code}#{key_id}".encode()


def generate_key(protector: KeyProtector, issuer_code: str, key_id: str) -> NewKey:
    private = Ed25519PrivateKey.generate()
    raw_private = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    raw_public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return NewKey(raw_public, protector.seal(raw_private, seal_context(issuer_code, key_id)), protector.key_ref)


class SigningKeys:
    """Opens sealed keys on demand and keeps the opened ones in memory (a cache: the database stays the truth)."""

    def __init__(self, protector: KeyProtector, size: int = 1024) -> None:
        self.protector = protector
        self._open: LRUCache[tuple[str, str, bytes], Ed25519PrivateKey] = LRUCache(maxsize=size)

    def private_key(self, issuer_code: str, key_id: str, sealed: bytes) -> Ed25519PrivateKey:
        cache_key = (issuer_code, key_id, hashlib.sha256(sealed).digest())
        key = self._open.get(cache_key)
        if key is None:
            raw = self.protector.open(sealed, seal_context(issuer_code, key_id))
            key = Ed25519PrivateKey.from_private_bytes(raw)
            self._open[cache_key] = key
        return key


def public_key(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)


def open_raw(protector: KeyProtector, issuer_code: str, key_id: str, sealed: bytes) -> bytes:
    return protector.open(sealed, seal_context(issuer_code, key_id))
