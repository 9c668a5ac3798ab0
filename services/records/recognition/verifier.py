"""The credentials service's verification API (``POST /v1/verify``), called with records' own client-credentials
token (the kit's :class:`ServiceTokenProvider`). Fails closed: when credentials cannot answer, nothing is
recognised (503, the request is not recorded); a credential it does not call valid is refused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from services.common.errors import ServiceUnavailable
from services.common.service_client import ServiceTokenProvider


@dataclass
class CredentialVerifier:
    http: httpx.AsyncClient
    tokens: ServiceTokenProvider
    credentials_url: str

    async def verify(self, document: dict[str, Any]) -> dict[str, Any]:
        """credentials' verification result: ``{"verified": bool, "outcome": str, "issuer": {...}, ...}``."""
        url = f"{self.credentials_url.rstrip('/')}/v1/verify"
        try:
            for attempt in (1, 2):
                resp = await self.http.post(url, json=document, headers={"Authorization": f"Bearer {await self.tokens.token()}"})
                if resp.status_code == 401 and attempt == 1:
                    self.tokens.invalidate()
                    continue
                break
        except httpx.HTTPError as exc:
            raise ServiceUnavailable("The credentials service cannot be reached to verify a credential.") from exc
        if resp.status_code in (400, 413, 422):  # not a credential at all
            return {"verified": False, "outcome": "malformed"}
        if not resp.is_success:
            raise ServiceUnavailable(f"The credentials service answered {resp.status_code} when verifying a credential.")
        body = resp.json()
        if not isinstance(body, dict) or not isinstance(body.get("verified"), bool):
            raise ServiceUnavailable("The credentials service's verification answer is not understood.")
        return body
