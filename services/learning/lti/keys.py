"""The tool's own signing keys (RS256, as LTI 1.3 requires: IMS Security Framework §6.1), published as a JWK Set
and rotatable, kept as identity keeps its token keys: the private key PEM encrypted at rest (Fernet, its key derived
from the service's ``secret_key`` under a label of its own), the active key read again every few seconds so a
rotation reaches every replica, the previous key published until ``retire_after``.

They sign what the tool sends platforms: Deep Linking responses and the client assertions of AGS token requests."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from datetime import timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import utcnow
from services.common.errors import AppError
from services.learning.lti import repository
from services.learning.models import LtiToolKey

ALGORITHM = "RS256"


class ToolKeyUnavailable(AppError):
    """The active key cannot be decrypted: the database was made (or restored) with another ``LEARNING_SECRET_KEY``."""

    status, title, slug = 503, "LTI signing key unavailable", "lti-signing-key-unavailable"


def fernet_for(secret: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"lti-tool-key\n" + secret.encode()).digest()))


def new_private_key_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def public_jwk(private_pem: bytes, kid: str) -> dict[str, Any]:
    private = serialization.load_pem_private_key(private_pem, password=None)
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    data = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in jwk.construct(public_pem, ALGORITHM).to_dict().items()}
    data.update(kid=kid, use="sig", alg=ALGORITHM)
    return data


class ToolKeys:
    """Signs with the active tool key; publishes the JWKS; rotates."""

    #: how long a replica signs with the active key it last read before asking the database again
    ACTIVE_KEY_TTL = 5.0

    def __init__(self, secret_key: str, retire_after: timedelta) -> None:
        self._fernet = fernet_for(secret_key)
        self._retire_after = retire_after
        self._private: dict[str, Any] = {}
        self._active: tuple[float, str] | None = None  # (read at, kid)

    def _new_key(self) -> LtiToolKey:
        kid = "lti-" + secrets.token_urlsafe(12)
        pem = new_private_key_pem()
        return LtiToolKey(kid=kid, algorithm=ALGORITHM, status="active", private_key_encrypted=self._fernet.encrypt(pem),
                          public_jwk=public_jwk(pem, kid))

    async def ensure_key(self, session: AsyncSession) -> LtiToolKey:
        key = await repository.active_tool_key(session)
        if key is None:
            key = self._new_key()
            session.add(key)
            await session.flush()
        return key

    async def rotate(self, session: AsyncSession) -> LtiToolKey:
        """Sign with a new key from now on; the previous one stays published for ``lti_key_retire_hours``."""
        now = utcnow()
        await repository.retire_tool_keys(session, now, now + self._retire_after)
        key = self._new_key()
        session.add(key)
        await session.flush()
        self._active = None
        return key

    async def jwks(self, session: AsyncSession) -> dict[str, Any]:
        if await repository.active_tool_key(session) is None:
            await self.ensure_key(session)
        return {"keys": [k.public_jwk for k in await repository.published_tool_keys(session, utcnow())]}

    def _private_key(self, key: LtiToolKey) -> Any:
        cached = self._private.get(key.kid)
        if cached is None:
            try:
                pem = self._fernet.decrypt(key.private_key_encrypted)
            except InvalidToken as exc:
                raise ToolKeyUnavailable(
                    f"The LTI tool key {key.kid} cannot be decrypted with the configured LEARNING_SECRET_KEY (a restore "
                    "without the secret it was made with?); a platform admin rotates the key (POST /v1/lti/keys/rotate)."
                ) from exc
            cached = jwk.construct(pem.decode(), ALGORITHM)
            self._private[key.kid] = cached
        return cached

    async def sign(self, session: AsyncSession, claims: dict[str, Any]) -> str:
        if self._active is None or time.monotonic() - self._active[0] > self.ACTIVE_KEY_TTL or self._active[1] not in self._private:
            key = await self.ensure_key(session)
            self._private_key(key)
            self._active = (time.monotonic(), key.kid)
        kid = self._active[1]
        return jwt.encode(claims, self._private[kid], algorithm=ALGORITHM, headers={"kid": kid, "typ": "JWT"})
