"""What e-courses ask identity: an institution's province and type (public registry), the registry's active
institutions of a type (for coverage toward the Decision 123 targets), a person's sex (with the service's own token).
Single institutions are kept per process: they change rarely and only feed report groupings. Listings are kept for
:data:`LISTING_SECONDS`; when identity cannot be reached the last listing read is used, if there is one."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import Request

from services.common.errors import ServiceUnavailable, ValidationFailed

log = logging.getLogger("services.learning.courses")

#: how long a registry listing is reused
LISTING_SECONDS = 60.0
#: identity's page size limit
PAGE = 500


@dataclass(frozen=True)
class InstitutionFacts:
    code: str
    province_code: str | None
    type: str | None


def _cache(request: Request) -> dict[str, Any]:
    state = request.app.state
    if not hasattr(state, "course_directory_cache"):
        state.course_directory_cache = {}
    return state.course_directory_cache


async def institution(request: Request, code: str, *, field: str = "institution_code") -> InstitutionFacts:
    """The registry's entry; 422 naming ``field`` if identity does not know the code."""
    cache = _cache(request)
    if ("institution", code) in cache:
        return cache[("institution", code)]
    settings = request.app.state.settings
    url = f"{settings.identity_url.rstrip('/')}/v1/institutions/{quote(code, safe='')}"  # one path segment, whatever it holds
    try:
        resp = await request.app.state.http.get(url, timeout=5.0)
    except (httpx.HTTPError, OSError) as exc:
        raise ServiceUnavailable("The institution registry cannot be reached; try again.") from exc
    if resp.status_code == 404:
        raise ValidationFailed(f"No institution {code} in the registry.",
                               errors=[{"field": field, "message": f"unknown institution {code}"}])
    if resp.status_code != 200:
        raise ServiceUnavailable("The institution registry did not answer; try again.")
    body = resp.json()
    facts = InstitutionFacts(code=code, province_code=body.get("province_code"), type=body.get("type"))
    cache[("institution", code)] = facts
    return facts


async def active_institutions(request: Request, type: str) -> list[InstitutionFacts]:
    """Every active institution of ``type`` in the registry (``GET /v1/institutions?type=&status=active``, all pages)."""
    cache = _cache(request)
    kept = cache.get(("listing", type))
    if kept is not None and time.monotonic() - kept[0] < LISTING_SECONDS:
        return kept[1]
    url = f"{request.app.state.settings.identity_url.rstrip('/')}/v1/institutions"
    params: dict[str, Any] = {"type": type, "status": "active", "limit": PAGE}
    found: list[InstitutionFacts] = []
    try:
        while True:
            resp = await request.app.state.http.get(url, params=params, timeout=10.0)
            if resp.status_code != 200:
                raise ServiceUnavailable("The institution registry did not answer; try again.")
            body = resp.json()
            found += [InstitutionFacts(code=i["code"], province_code=i.get("province_code"), type=i.get("type")) for i in body["items"]]
            if not body.get("next_cursor"):
                break
            params["cursor"] = body["next_cursor"]
    except (httpx.HTTPError, OSError, ServiceUnavailable) as exc:
        if kept is not None:
            log.warning("the institution registry did not answer; using the listing read %.0f s ago", time.monotonic() - kept[0])
            return kept[1]
        if isinstance(exc, ServiceUnavailable):
            raise
        raise ServiceUnavailable("The institution registry cannot be reached; try again.") from exc
    cache[("listing", type)] = (time.monotonic(), found)
    return found


def forget_listings(app: Any) -> None:
    """Drop the kept registry listings (the next report reads the registry again)."""
    cache = getattr(app.state, "course_directory_cache", {})
    for key in [k for k in cache if k[0] == "listing"]:
        del cache[key]


async def person_sex(request: Request, person_id: str) -> str | None:
    """Best effort: a report grouping, not a reason to refuse an enrolment."""
    tokens = request.app.state.tokens
    if tokens is None or not tokens.configured:
        return None
    url = f"{request.app.state.settings.identity_url.rstrip('/')}/v1/persons/{person_id}"
    try:
        resp = await request.app.state.http.get(url, headers={"Authorization": f"Bearer {await tokens.token()}"}, timeout=5.0)
    except (httpx.HTTPError, OSError, KeyError):
        log.warning("identity did not answer for a person's sex")
        return None
    sex = resp.json().get("gender") if resp.status_code == 200 else None
    return sex if sex in ("male", "female") else None
