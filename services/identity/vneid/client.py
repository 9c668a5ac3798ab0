"""Relying-party side of sign-in through VNeID — written against OpenID Connect Core and Discovery, so any
conformant provider can stand in: authorisation code flow with PKCE (S256), ``state`` and ``nonce``, ID token
signature checked against the provider's JWKS (refetched on an unknown ``kid``), ``iss``/``aud``/``exp``/``nonce``
checked."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import httpx
from jose import jwt
from jose.exceptions import JWTError

from services.common.errors import AppError, ServiceUnavailable
from services.identity.config import IdentitySettings

ID_TOKEN_ALGORITHMS = ["RS256", "ES256", "PS256"]


class SignInFailed(AppError):
    status, title, slug = 401, "Sign-in with VNeID failed", "vneid-sign-in-failed"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


class OidcClient:
    def __init__(self, settings: IdentitySettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http
        self._discovery: dict[str, Any] | None = None
        self._discovered_at = 0.0
        self._jwks: dict[str | None, Any] = {}  # by kid (None: a key without one)
        self._jwks_at = 0.0

    @property
    def configured(self) -> bool:
        s = self.settings
        return bool(s.vneid_issuer and s.vneid_client_id and s.vneid_client_secret)

    async def discovery(self) -> dict[str, Any]:
        if self._discovery is None or time.monotonic() - self._discovered_at > 3600:
            url = self.settings.vneid_issuer.rstrip("/") + "/.well-known/openid-configuration"
            try:
                resp = await self.http.get(url, timeout=5.0)
                resp.raise_for_status()
                doc = resp.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise ServiceUnavailable("The VNeID provider cannot be reached.") from exc
            if doc.get("issuer") != self.settings.vneid_issuer.rstrip("/"):
                raise ServiceUnavailable("The VNeID discovery document names another issuer.")
            self._discovery, self._discovered_at = doc, time.monotonic()
        return self._discovery

    async def _key(self, kid: str | None) -> dict[str, Any] | None:
        if kid not in self._jwks and time.monotonic() - self._jwks_at > 1.0:
            doc = await self.discovery()
            try:
                resp = await self.http.get(doc["jwks_uri"], timeout=5.0)
                resp.raise_for_status()
                self._jwks = {k.get("kid"): k for k in resp.json().get("keys", [])}
                self._jwks_at = time.monotonic()
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                raise ServiceUnavailable("The VNeID provider's keys cannot be fetched.") from exc
        return self._jwks.get(kid)

    async def authorize_url(self, *, state: str, nonce: str, challenge: str, login_hint: str | None = None) -> str:
        doc = await self.discovery()
        params = {
            "response_type": "code",
            "client_id": self.settings.vneid_client_id,
            "redirect_uri": self.settings.vneid_redirect_uri,
            "scope": self.settings.vneid_scopes,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        if login_hint:
            params["login_hint"] = login_hint
        return f"{doc['authorization_endpoint']}?{urlencode(params)}"

    async def exchange(self, code: str, verifier: str) -> dict[str, Any]:
        doc = await self.discovery()
        try:
            resp = await self.http.post(
                doc["token_endpoint"],
                data={"grant_type": "authorization_code", "code": code, "redirect_uri": self.settings.vneid_redirect_uri,
                      "code_verifier": verifier},
                auth=(self.settings.vneid_client_id, self.settings.vneid_client_secret),
                timeout=10.0,
            )
        except httpx.HTTPError as exc:
            raise ServiceUnavailable("The VNeID provider cannot be reached.") from exc
        if resp.status_code != 200:
            try:
                error = resp.json().get("error", "error")
            except ValueError:
                error = f"HTTP {resp.status_code}"
            raise SignInFailed(f"The provider refused the authorisation code ({error}).")
        body = resp.json()
        if "id_token" not in body:
            raise SignInFailed("The provider returned no ID token.")
        return body

    async def validate_id_token(self, id_token: str, nonce: str, access_token: str | None = None) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(id_token)
        except JWTError:
            raise SignInFailed("The ID token is malformed.") from None
        if header.get("alg") not in ID_TOKEN_ALGORITHMS:
            raise SignInFailed("The ID token's algorithm is not accepted.")
        key = await self._key(header.get("kid"))
        if key is None:
            raise SignInFailed("The ID token is signed with a key the provider does not publish.")
        try:
            claims = jwt.decode(
                id_token,
                key,
                algorithms=[header["alg"]],
                audience=self.settings.vneid_client_id,
                issuer=self.settings.vneid_issuer.rstrip("/"),
                access_token=access_token,
                options={"require_exp": True, "require_iat": True, "require_sub": True, "verify_at_hash": access_token is not None},
            )
        except JWTError as exc:
            raise SignInFailed(f"The ID token is not valid: {exc}.") from None
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise SignInFailed("The ID token's nonce does not match this sign-in.")
        return claims
