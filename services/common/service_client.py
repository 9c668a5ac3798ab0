"""Service-to-service calls: a client-credentials token from identity, cached until shortly before expiry."""

from __future__ import annotations

import asyncio
import time

import httpx


class ServiceTokenProvider:
    """Gets and caches this service's own access token (OAuth2 client credentials)."""

    def __init__(self, token_url: str, client_id: str, client_secret: str, client: httpx.AsyncClient, scope: str = "") -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scope
        self._client = client
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret)

    def invalidate(self) -> None:
        self._token = None

    async def token(self) -> str:
        async with self._lock:
            if self._token and time.monotonic() < self._expires_at - 30:
                return self._token
            data = {"grant_type": "client_credentials"}
            if self.scope:
                data["scope"] = self.scope
            resp = await self._client.post(self.token_url, data=data, auth=(self.client_id, self.client_secret), timeout=10.0)
            resp.raise_for_status()
            body = resp.json()
            self._token = body["access_token"]
            self._expires_at = time.monotonic() + float(body.get("expires_in", 300))
            return self._token
