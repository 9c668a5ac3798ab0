"""Learning's client of records' public API (``LEARNING_RECORDS_URL``), with learning's own client-credentials
token (``svc-learning``: ``records:read`` to read programmes, ``records:grades:write`` to enter grades).

* a programme with its modules and weights, an institution's terms, a grading policy (public);
* a grade entered by person (learning never holds personal ID numbers), with an ``Idempotency-Key`` so a repeat
  is answered with the first response and changes nothing.

Transient failures (records unreachable, 5xx, 408, 429) are tried again a few times, waiting on the app's clock;
a 401 is tried once more with a fresh token."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from services.common.errors import AppError, ServiceUnavailable, ValidationFailed
from services.common.retry import TRANSIENT_STATUSES, RetryPolicy
from services.common.service_client import ServiceTokenProvider

log = logging.getLogger("services.learning.assessment.records")

#: tries of one call through transient failures (the waits: about 0.5 s, 1 s)
TRIES = 3
POLICY = RetryPolicy(base=0.5, max_delay=2.0)


class RecordsRefused(AppError):
    """Records refused a call learning makes on its own behalf (not a learner's data): a misconfiguration, such as
    learning's client missing a scope. Not the caller's fault, and not worth retrying."""

    status, title, slug = 502, "Records refused the call", "records-refused"


@dataclass
class Answer:
    status: int
    body: Any
    replayed: bool = False
    #: a grade entry: what records did (created | updated | unchanged), from its ``Grade-Result`` header
    result: str | None = None


class RecordsClient:
    def __init__(self, http: httpx.AsyncClient, base_url: str, tokens: ServiceTokenProvider,
                 sleep: Callable[[float], Awaitable[None]]) -> None:
        self.http = http
        self.base = base_url.rstrip("/")
        self.tokens = tokens
        self.sleep = sleep

    async def _call(self, method: str, path: str, *, auth: bool = True, headers: dict[str, str] | None = None, **kw: Any) -> Answer:
        refreshed = False
        last = ""
        attempt = 0
        while attempt < TRIES:
            attempt += 1
            sent = dict(headers or {})
            try:
                if auth:
                    sent["Authorization"] = f"Bearer {await self.tokens.token()}"
                resp = await self.http.request(method, f"{self.base}{path}", headers=sent, timeout=10.0, **kw)
            except (httpx.HTTPError, KeyError) as exc:
                last = f"records or identity unreachable ({type(exc).__name__})"
            else:
                if resp.status_code == 401 and auth and not refreshed:
                    self.tokens.invalidate()  # a token issued before a key rotation, say: once more with a fresh one
                    refreshed, attempt = True, attempt - 1
                    continue
                if resp.status_code not in TRANSIENT_STATUSES:
                    try:
                        body = resp.json()
                    except ValueError:
                        body = {"detail": resp.text[:500]}
                    return Answer(resp.status_code, body, resp.headers.get("idempotent-replayed") == "true",
                                  resp.headers.get("grade-result"))
                last = f"records answered HTTP {resp.status_code}"
            if attempt < TRIES:
                log.warning("records call %s %s failed (%s); trying again", method, path, last)
                await self.sleep(POLICY.delay_after_attempts(attempt))
        raise ServiceUnavailable(f"Records cannot be reached: {last}.")

    async def programme(self, institution: str, code: str) -> dict[str, Any]:
        answer = await self._call("GET", f"/v1/institutions/{quote(institution, safe='')}/programmes/{quote(code, safe='')}")
        if answer.status == 404:
            raise ValidationFailed(f"Records has no programme {code} at {institution}.",
                                   errors=[{"field": "programme_code", "message": f"no programme {code} at {institution} in records"}])
        if answer.status != 200:
            raise RecordsRefused(f"Records did not give the programme (HTTP {answer.status}).")
        programme: dict[str, Any] = answer.body
        return programme

    async def terms(self, institution: str) -> list[dict[str, Any]]:
        answer = await self._call("GET", f"/v1/institutions/{quote(institution, safe='')}/terms")
        if answer.status != 200:
            raise RecordsRefused(f"Records did not give the terms (HTTP {answer.status}).")
        return list(answer.body)

    async def policy(self, code: str) -> dict[str, Any]:
        answer = await self._call("GET", f"/v1/grading-policies/{quote(code, safe='')}", auth=False)
        if answer.status != 200:
            raise RecordsRefused(f"Records did not give grading policy {code} (HTTP {answer.status}).")
        policy: dict[str, Any] = answer.body
        return policy

    async def enter_grade(self, institution: str, grade: dict[str, Any], idempotency_key: str) -> Answer:
        """201 created, 200 updated or unchanged (``version`` says which), 422 with the fields records refused."""
        return await self._call("POST", f"/v1/institutions/{quote(institution, safe='')}/grades", json=grade,
                                headers={"Idempotency-Key": idempotency_key})
