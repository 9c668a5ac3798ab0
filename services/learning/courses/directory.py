"""What e-courses ask identity: an institution's province and type (public registry), a person's sex (with the
service's own token). Institutions are kept per process: they change rarely and only feed report groupings."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import Request

from services.common.errors import ServiceUnavailable, ValidationFailed

log = logging.getLogger("services.learning.courses")


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
    url = f"{settings.identity_url.rstrip('/')}/v1/institutions/{code}"
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
