"""Who may grant which role where — to people (memberships) and to machine clients (their roles and scopes).

* A platform admin (``platform_admin`` at ``national``) grants any role anywhere; ``platform_admin`` itself comes
  only from an existing platform admin.
* A ministry officer (``ministry_officer`` at ``national``) grants ``ministry_officer``, ``province_officer`` of
  any province, and the institution roles (``school_admin``, ``teacher``, ``student``, ``school_system``) anywhere.
* A school admin (``school_admin`` at an institution) grants ``school_admin``, ``teacher`` and ``student`` there.
* Nobody else grants anything, and nobody grants anything to themselves.
* A machine client's scopes: only ones its creator holds itself (a platform admin gives any).

Roles come from the caller's verified token (memberships at sign-in, a client's registered roles), never from
the request. Every grant is audited, and so is every refused one (its own transaction: the refusal rolls the
request back, not its audit entry)."""

from __future__ import annotations

import re
from typing import Any, NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.db import Database
from services.common.errors import Forbidden, ValidationFailed
from services.common.permissions import NATIONAL
from services.identity.audit import service as audit

INSTITUTION_ROLES = {"school_admin", "teacher", "student", "school_system"}
KNOWN_ROLES = {"platform_admin", "ministry_officer", "province_officer"} | INSTITUTION_ROLES
_PROVINCE = re.compile(r"^province:\d{3}$")
_INSTITUTION = re.compile(r"^[A-Z0-9][A-Z0-9._\-]{1,19}$")


def _place_kind(at: str) -> str:
    if at == NATIONAL:
        return "national"
    if _PROVINCE.match(at):
        return "province"
    if _INSTITUTION.match(at):
        return "institution"
    return "unknown"


def role_fits_place(role: str, at: str) -> bool:
    """platform_admin and ministry_officer are national, province_officer per province, the rest per institution."""
    kind = _place_kind(at)
    if role in ("platform_admin", "ministry_officer"):
        return kind == "national"
    if role == "province_officer":
        return kind == "province"
    return role in INSTITUTION_ROLES and kind == "institution"


def is_platform_admin(principal: Principal) -> bool:
    return "platform_admin" in principal.roles.get(NATIONAL, [])


def why_not(principal: Principal, role: str, at: str, *, target_sub: str | None = None) -> str | None:
    """None when ``principal`` may grant (or revoke) ``role`` at ``at`` to ``target_sub``; else the reason."""
    if target_sub is not None and target_sub == principal.sub:
        return "Nobody grants roles to themselves; ask an administrator."
    if not role_fits_place(role, at):
        return f"{role} cannot be held at {at}."
    if is_platform_admin(principal):
        return None
    if role == "platform_admin":
        return "Only a platform admin grants platform_admin."
    national = principal.roles.get(NATIONAL, [])
    if "ministry_officer" in national:
        return None  # everything but platform_admin
    if role in {"school_admin", "teacher", "student"} and "school_admin" in principal.roles.get(at, []):
        return None
    return f"You may not grant {role} at {at}."


def client_roles(roles: list[str], institution_code: str | None) -> list[tuple[str, str]]:
    """A client's ``role`` / ``role@place`` entries as (role, place), or 422 naming the field."""
    out, bad = [], []
    for entry in roles:
        role, _, at = entry.partition("@")
        at = at or (institution_code or "")
        if role not in KNOWN_ROLES or not role_fits_place(role, at):
            bad.append(entry)
        else:
            out.append((role, at))
    if bad:
        raise ValidationFailed("A client's role is one of the platform's roles at a place it fits (role@place, or a "
                               "bare institution role at the client's institution).",
                               errors=[{"field": "roles", "message": f"invalid: {bad}"}])
    return out


def scopes_not_held(principal: Principal, scopes: list[str]) -> list[str]:
    return [] if is_platform_admin(principal) else sorted(set(scopes) - principal.scopes)


async def refuse(db: Database, principal: Principal, reason: str, *, action: str, target_type: str, target_id: str,
                 details: dict[str, Any], ip: str | None = None, request_session: AsyncSession | None = None) -> NoReturn:
    """Audits a refused grant in its own transaction, then refuses (403). A request session that has read already
    is rolled back first (it changed nothing; on SQLite it would hold the one write lock)."""
    if request_session is not None:
        await request_session.rollback()
    async with db.session() as session:
        audit.record(session, actor=principal, action=action, target_type=target_type, target_id=target_id[:200],
                     outcome="failure", ip=ip, details=details | {"reason": reason})
    raise Forbidden(reason)
