"""What e-courses ask identity: an institution's province and type (public registry), the registry's active
institutions of a type (for coverage toward the Decision 123 targets), a person's sex (with the service's own token).
All through the kit's client (the context's ``identity``, ``services.common.identity_client``), which keeps what it read
for a while and, when identity cannot be reached, serves it within its stale window. Listings are reused for at most
:data:`LISTING_SECONDS`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from services.common.errors import ValidationFailed
from services.common.identity_client import IdentityClient, IdentityError
from services.learning.context import LearningContext

log = logging.getLogger("services.learning.courses")

#: how long a registry listing is reused
LISTING_SECONDS = 60.0


@dataclass(frozen=True)
class InstitutionFacts:
    code: str
    province_code: str | None
    type: str | None


def _identity(ctx: LearningContext) -> IdentityClient:
    return ctx.identity


async def institution(ctx: LearningContext, code: str, *, field: str = "institution_code") -> InstitutionFacts:
    """The registry's entry; 422 naming ``field`` if identity does not know the code."""
    body = await _identity(ctx).institution(code)
    if body is None:
        raise ValidationFailed(f"No institution {code} in the registry.",
                               errors=[{"field": field, "message": f"unknown institution {code}"}])
    return InstitutionFacts(code=code, province_code=body.get("province_code"), type=body.get("type"))


async def ask_ahead(ctx: LearningContext, *, institutions: Iterable[str | None] = (), person_id: str | None = None) -> None:
    """Asks identity now for what a write is about to need (institutions, a person), before its transaction opens: the
    client keeps what it finds, so the calls made inside the transaction are answered from memory, not by a call to
    another service while the transaction holds its locks. A failure (or an unknown code, which is never kept) is
    left to the call that needs the answer."""
    identity = _identity(ctx)
    for code in dict.fromkeys(c for c in institutions if c):
        with contextlib.suppress(IdentityError):
            await identity.institution(code)
    if person_id and identity.authenticated:
        with contextlib.suppress(IdentityError):
            await identity.person(person_id)


async def active_institutions(ctx: LearningContext, type: str) -> list[InstitutionFacts]:
    """Every active institution of ``type`` in the registry (``GET /v1/institutions?type=&status=active``, all pages)."""
    items = await _identity(ctx).institutions(type=type, status="active", max_age=LISTING_SECONDS)
    return [InstitutionFacts(code=i["code"], province_code=i.get("province_code"), type=i.get("type")) for i in items]


def forget_listings(ctx: LearningContext) -> None:
    """Drop the kept registry listings (the next report reads the registry again)."""
    ctx.identity.forget("institutions")


async def person_sex(ctx: LearningContext, person_id: str) -> str | None:
    """Best effort: a report grouping, not a reason to refuse an enrolment (identity unavailable, or not knowing
    the person: None; the client logs why)."""
    identity = _identity(ctx)
    if not identity.authenticated:
        return None
    try:
        person = await identity.person(person_id)
    except IdentityError:
        log.warning("identity did not answer for a person's sex")
        return None
    sex = person.get("gender") if person is not None else None
    return sex if sex in ("male", "female") else None
