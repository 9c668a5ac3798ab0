"""Who may do what in records, per institution.

* **write** (sync, programmes, graduation, reports of an institution): a school admin or the school's system at
  that institution with ``records:sync``, or a platform admin with ``records:admin``;
* **grade entry**: those, or a teacher at that institution, or another platform service holding
  ``records:grades:write`` (learning's gradebooks: learning checks that the sender teaches at the institution);
* **read** an institution's records: its staff (``records:read``), officers of its province, national officers;
* a learner reads their own records (token ``person_id``), nothing else.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.db import utcnow
from services.common.errors import Forbidden, NotFound, ServiceUnavailable
from services.common.identity_client import IdentityClient
from services.common.permissions import INSTITUTION_STAFF, is_national_officer, person_id_of, provinces_of, roles_at
from services.records.context import RecordsContext
from services.records.models import InstitutionRef, Learner

WRITERS = {"school_admin", "school_system"}
#: a platform service (a client without roles) entering grades on behalf of its own users
GRADES_SCOPE = "records:grades:write"
REFRESH_AFTER = timedelta(hours=6)


def is_platform_admin(principal: Principal) -> bool:
    return principal.has_scope("records:admin")


def is_service(principal: Principal) -> bool:
    """Another platform service (client credentials, no roles) reading with ``records:read``."""
    return principal.kind == "client" and not principal.roles and principal.has_scope("records:read")


def ensure_write(principal: Principal, code: str) -> None:
    if is_platform_admin(principal):
        return
    if principal.has_scope("records:sync") and roles_at(principal, code) & WRITERS:
        return
    raise Forbidden(f"You may not change the records of institution {code}.")


def ensure_grade_entry(principal: Principal, code: str) -> None:
    if "teacher" in roles_at(principal, code) and principal.has_scope("records:read"):
        return
    if principal.kind == "client" and not principal.roles and principal.has_scope(GRADES_SCOPE):
        return
    ensure_write(principal, code)


def may_read(principal: Principal, inst: InstitutionRef) -> bool:
    if is_platform_admin(principal) or is_national_officer(principal):
        return True
    if not principal.has_scope("records:read"):
        return False
    if is_service(principal):
        return True
    return bool(roles_at(principal, inst.code) & INSTITUTION_STAFF) or inst.province_code in provinces_of(principal)


def may_see_numbers(principal: Principal, province_code: str | None, person_id: object = None,
                    institution_code: str | None = None) -> bool:
    """The one rule for personal ID numbers in records: shown in full to the person themself (``person_id``), to
    authorised officers (national, or of the institution's province), and to the institution's own school system
    (``school_system`` with ``records:sync`` at ``institution_code``: the numbers are its own data, which it sent and
    matches the change feed's natural keys against — masked, ``001******345`` would name many learners); everyone
    else — teachers and school administrators, other schools, other services, platform admins — gets them masked
    (:func:`services.common.privacy.mask_id_number`), in every representation: learners, transcripts, key changes,
    the change feed."""
    return (
        (person_id is not None and person_id_of(principal) == str(person_id))
        or is_national_officer(principal)
        or (province_code is not None and province_code in provinces_of(principal))
        or (institution_code is not None and principal.has_scope("records:sync")
            and "school_system" in roles_at(principal, institution_code))
    )


def ensure_read(principal: Principal, inst: InstitutionRef) -> None:
    if not may_read(principal, inst):
        raise Forbidden(f"You may not read the records of institution {inst.code}.")


async def institution(session: AsyncSession, ctx: RecordsContext, code: str) -> InstitutionRef:
    """The institution as identity's registry has it, cached in this service's database (refreshed after
    :data:`REFRESH_AFTER`; while identity is unavailable the stored row is used). Identity is asked
    (``ctx.identity``, the kit's client) before a write session's transaction opens when it has not begun yet: the
    stored row then read on a short read session of its own and, if refreshed, written on a short write session of
    its own, and returned detached from the request's session, which is left untouched: its write transaction is
    still not open when this returns (the caller may look up another institution, or call another service, after
    it). No call to another service while a write transaction holds its locks."""
    identity = ctx.identity
    if session.info.get("write") and not session.in_transaction():
        async with ctx.db.session(write=False) as peek:
            stored = await peek.get(InstitutionRef, code)
        if stored is None or utcnow() - stored.fetched_at >= REFRESH_AFTER:
            entry, failure = await _registry_entry(identity, code)
            if failure is None and entry is not None:
                # the cached row refreshed in a short write of its own, so the request's write transaction is still
                # not open when this returns: the caller may call another service after it
                async with ctx.db.session(write=True) as own:
                    stored = await _store(own, code, entry)
            elif failure is None:
                raise NotFound(f"No institution {code} in the registry.")
            elif stored is None:
                raise failure
        # the row as read (not merged: merging would begin the session's transaction, and a second lookup on it
        # would then be taken for one inside an open transaction); its fields are what callers read
        return stored
    ref = await session.get(InstitutionRef, code)
    if ref is not None and utcnow() - ref.fetched_at < REFRESH_AFTER:
        return ref
    entry, failure = await _registry_entry(identity, code)
    if failure is not None:
        if ref is not None:
            return ref
        raise failure
    if entry is None:
        raise NotFound(f"No institution {code} in the registry.")
    return await _store(session, code, entry)


async def _store(session: AsyncSession, code: str, entry: dict[str, Any]) -> InstitutionRef:
    """Identity's entry kept as the institution's cached row (created or refreshed)."""
    ref = await session.get(InstitutionRef, code)
    if ref is None:
        ref = InstitutionRef(code=code, name=entry["name"], province_code=entry["province_code"], type=entry["type"], fetched_at=utcnow())
        session.add(ref)
    else:
        ref.name, ref.province_code, ref.type, ref.fetched_at = entry["name"], entry["province_code"], entry["type"], utcnow()
    await session.flush()
    return ref


async def _registry_entry(identity: IdentityClient, code: str) -> tuple[dict[str, Any] | None, ServiceUnavailable | None]:
    """Identity's entry (None: not registered), or why it could not be had (unavailable, or refusing this service)."""
    try:
        return await identity.institution(code), None
    except ServiceUnavailable as exc:
        return None, exc


def actor_of(principal: Principal) -> str:
    return principal.sub[:200]


def may_see_learner_number(principal: Principal, learner: Learner, province_code: str | None = None) -> bool:
    """:func:`may_see_numbers` for this learner's personal ID number (at an institution of ``province_code``)."""
    return may_see_numbers(principal, province_code, person_id=learner.person_id, institution_code=learner.institution_code)
