"""Token rules: signing keys and rotation, OAuth2 client credentials, the JWKS."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from jose import jwk, jwt
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.common.auth import Principal, token_audience
from services.common.clock import SYSTEM_CLOCK, Clock
from services.common.db import Database, utcnow
from services.common.errors import AppError, Conflict
from services.identity.accounts import throttle
from services.identity.audit import service as audit
from services.identity.config import IdentitySettings
from services.identity.devsecrets import refused_secret
from services.identity.models import ApiClient, SigningKey
from services.identity.tokens import keys, repository

#: slack for clock skew between a token's expiry and the retirement of the key that signed it
ROTATION_GRACE = timedelta(seconds=60)


class InvalidClient(AppError):
    """RFC 6749 §5.2 ``invalid_client``, rendered as a problem with the OAuth error code."""

    status, title, slug = 401, "Invalid client", "invalid-client"


class InvalidScope(AppError):
    status, title, slug = 400, "Invalid scope", "invalid-scope"


class ClientLocked(AppError):
    """Too many wrong secrets for this client from this address (or from this address for any client)."""

    status, title, slug = 429, "Too many failed client authentications", "client-authentication-locked"


class TokenService:
    #: how long a replica keeps using the active key it last read before asking the database again
    ACTIVE_KEY_TTL = 5.0

    def __init__(self, settings: IdentitySettings, clock: Callable[[], Clock] = lambda: SYSTEM_CLOCK) -> None:
        self.settings = settings
        #: the time sign-in waits are counted in (``accounts/throttle.py``, for clients here and for accounts in
        #: ``accounts/flows.py``): the app's clock, which a test replaces to move past a wait without waiting
        self.clock = clock
        self._fernet = keys.fernet_for(settings.key_encryption_secret)
        self._private_cache: dict[str, Any] = {}
        self._active: tuple[float, str, str] | None = None  # (read at, kid, algorithm)

    # -- signing keys -------------------------------------------------------------------------------------------
    def _new_key(self) -> SigningKey:
        alg = self.settings.signing_algorithm
        kid = keys.new_kid()
        pem = keys.new_private_key_pem(alg)
        return SigningKey(
            kid=kid,
            algorithm=alg,
            status="active",
            private_key_encrypted=self._fernet.encrypt(pem),
            public_jwk=keys.public_jwk(pem, alg, kid),
        )

    async def ensure_signing_key(self, session: AsyncSession) -> SigningKey:
        key = await repository.active_key(session)
        if key is None:
            key = self._new_key()
            session.add(key)
            await session.flush()
        return key

    async def rotate(self, session: AsyncSession) -> SigningKey:
        """Start signing with a new key; the old one stays published until its last token has expired."""
        now = utcnow()
        await repository.expire_retiring(session, now)
        await repository.retire_active(
            session, now + timedelta(seconds=self.settings.access_token_ttl_seconds) + ROTATION_GRACE
        )
        key = self._new_key()
        session.add(key)
        await session.flush()
        self._active = None  # this replica signs with the new key at once
        return key

    async def jwks(self, session: AsyncSession) -> dict[str, Any]:
        return {"keys": [k.public_jwk for k in await repository.published_keys(session, utcnow())]}

    def _private_key(self, key: SigningKey) -> Any:
        """The decrypted, parsed private key, kept per ``kid`` (parsing a PEM per token costs more than signing)."""
        cached = self._private_cache.get(key.kid)
        if cached is None:
            cached = jwk.construct(keys.decrypt(self._fernet, key.private_key_encrypted, key.kid).decode(), key.algorithm)
            self._private_cache[key.kid] = cached
        return cached

    def _fresh(self) -> bool:
        return (self._active is not None and time.monotonic() - self._active[0] <= self.ACTIVE_KEY_TTL
                and self._active[1] in self._private_cache)

    async def _refresh_active(self, session: AsyncSession) -> None:
        key = await self.ensure_signing_key(session)
        self._private_key(key)
        self._active = (time.monotonic(), key.kid, key.algorithm)

    def _sign_now(self, claims: dict[str, Any]) -> str:
        assert self._active is not None
        _, kid, algorithm = self._active
        return jwt.encode(claims, self._private_cache[kid], algorithm=algorithm, headers={"kid": kid})

    async def sign(self, session: AsyncSession, claims: dict[str, Any]) -> str:
        """Signs with the active key. Each replica rereads which key is active at most every few seconds, so a
        rotation reaches every replica within ``ACTIVE_KEY_TTL`` (old keys stay valid for verification)."""
        if not self._fresh():
            await self._refresh_active(session)
        return self._sign_now(claims)

    # -- machine clients ----------------------------------------------------------------------------------------
    def hash_secret(self, secret: str) -> str:
        return hmac.new(self.settings.client_secret_pepper.encode(), secret.encode(), hashlib.sha256).hexdigest()

    async def create_client(
        self,
        session: AsyncSession,
        *,
        client_id: str,
        name: str,
        scopes: list[str],
        institution_code: str | None = None,
        roles: list[str] | None = None,
        secret: str | None = None,
    ) -> tuple[ApiClient, str]:
        if await repository.client_by_id(session, client_id) is not None:
            raise Conflict(f"A client with id {client_id!r} already exists.", errors=[{"field": "client_id", "message": "already registered"}])
        secret = secret or secrets.token_urlsafe(32)
        client = ApiClient(
            client_id=client_id,
            name=name,
            secret_hash=self.hash_secret(secret),
            scopes=" ".join(sorted(set(scopes))),
            institution_code=institution_code,
            roles=roles or [],
            active=True,
        )
        session.add(client)
        await session.flush()
        return client, secret

    async def authenticate_client(self, conn: AsyncConnection, client_id: str, secret: str, ip: str = "unknown") -> Any:
        """The client's row (read-only) when the secret matches; ``invalid_client`` otherwise; 429 while this
        client waits at this address (``accounts/throttle.py``: per client+address pair, and per address for
        unknown client ids and pairs that failed already)."""
        now = self.clock().now()
        client = await repository.client_for_grant(conn, client_id, throttle.client_pair_key(client_id, ip))
        held = [client.pair_locked_until] if client is not None else []
        if client is None or client.pair_failures:
            rows = await throttle.read(conn, [throttle.client_ip_key(ip)])
            held += [r.locked_until for r in rows.values()]
        left = max(((t - now).total_seconds() for t in held if t is not None and t > now), default=0.0)
        if left > 0:
            wait = math.ceil(left)
            raise ClientLocked(f"Too many failed client authentications; try again in {wait} s.", error="invalid_client",
                               headers={"Retry-After": str(wait)})
        expected = client.secret_hash if client is not None else self.hash_secret("\0unknown")
        ok = hmac.compare_digest(expected, self.hash_secret(secret))
        if client is None or not ok or not client.active or refused_secret(self.settings, secret):
            raise InvalidClient("Client authentication failed.", error="invalid_client")
        if client.pair_failures:
            await throttle.succeed(conn, throttle.client_pair_key(client_id, ip), now, remember=False)
        return client

    async def client_credentials_grant(self, db: Database, client_id: str, secret: str, scope: str | None,
                                       ip: str = "unknown") -> dict[str, Any]:
        """RFC 6749 §4.4: authenticate the client, sign its access token, audit the grant. The hot path of the
        service: one read and one insert on a bare autocommit connection (no session, no BEGIN/COMMIT)."""
        if not self._fresh():
            # before taking the grant's connection: on SQLite a second writer would wait for the first
            async with db.session() as session:
                await self._refresh_active(session)
        try:
            return await self._grant(db, client_id, secret, scope, ip)
        except (InvalidClient, InvalidScope, ClientLocked) as exc:
            # refusals are audited too (the grant's own transaction, if any, was rolled back with the error), and a
            # wrong secret is counted against this client from this address, and against the address
            now = self.clock().now()
            async with db.autocommit() as conn:
                details: dict[str, Any] = {"error": exc.extensions.get("error"), "scope": (scope or "")[:500] or None}
                if isinstance(exc, InvalidClient):
                    s = self.settings
                    details["waits"] = {
                        "pair": await throttle.fail(conn, throttle.client_pair_key(client_id, ip), s.lockout_pair_failures, s, now),
                        "address": await throttle.fail(conn, throttle.client_ip_key(ip), s.lockout_ip_failures, s, now),
                    }
                # what the caller sent is cut to the columns' size: a refusal must not fail on its own audit row
                await audit.record_now(conn, actor=f"client:{client_id[:150]}", action="token.client_credentials",
                                       target_type="client", target_id=client_id[:150],
                                       outcome="locked" if isinstance(exc, ClientLocked) else "failure", ip=ip, details=details)
            raise

    async def _grant(self, db: Database, client_id: str, secret: str, scope: str | None, ip: str) -> dict[str, Any]:
        async with db.autocommit() as conn:
            client = await self.authenticate_client(conn, client_id, secret, ip)
            allowed = set(client.scopes.split())
            requested = set(scope.split()) if scope else allowed
            refused = requested - allowed
            if refused:
                raise InvalidScope(
                    f"The client may not ask for: {' '.join(sorted(refused))}.",
                    error="invalid_scope",
                    errors=[{"field": "scope", "message": f"not allowed: {' '.join(sorted(refused))}"}],
                )
            now = int(time.time())
            ttl = self.settings.access_token_ttl_seconds
            granted = " ".join(sorted(requested))
            roles = roles_claim(client.roles, default_at=client.institution_code)
            claims = {
                "iss": self.settings.jwt_issuer,
                "sub": f"client:{client.client_id}",
                "aud": token_audience(requested, person=False, roles=roles),
                "iat": now,
                "nbf": now,
                "exp": now + ttl,
                "jti": uuid.uuid4().hex,
                "typ": "access",
                "kind": "client",
                "client_id": client.client_id,
                "scope": granted,
                "roles": roles,
            }
            token = self._sign_now(claims)
            await audit.record_now(conn, actor=f"client:{client.client_id}", action="token.client_credentials",
                                   target_type="client", target_id=client.client_id, details={"scope": granted})
        return {"access_token": token, "token_type": "Bearer", "expires_in": ttl, "scope": granted}


async def rotate_key(session: AsyncSession, tokens: TokenService, principal: Principal) -> SigningKey:
    """An administrator's rotation (audited)."""
    key = await tokens.rotate(session)
    audit.record(session, actor=principal, action="signing_key.rotated", target_type="signing_key", target_id=key.kid)
    return key


def roles_claim(roles: list[str], *, default_at: str | None) -> dict[str, list[str]]:
    """``["school_system", "province_officer@province:079"]`` → ``{"CD0101": ["school_system"],
    "province:079": ["province_officer"]}``: a bare role applies at the client's own institution."""
    out: dict[str, list[str]] = {}
    for entry in roles:
        role, _, where = entry.partition("@")
        where = where or default_at or ""
        if where:
            out.setdefault(where, []).append(role)
    return out
