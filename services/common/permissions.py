"""Who may act on what, checked the same way in every service.

Tokens carry ``roles`` keyed by where they apply:
* an institution code (``"CD0101": ["teacher"]``) — school_admin, teacher, student, school_system;
* ``"province:<code>"`` — province_officer of that province (Sở LĐTBXH / Sở GDĐT);
* ``"national"`` — platform_admin, ministry_officer.
"""

from __future__ import annotations

from services.common.auth import Principal
from services.common.errors import Forbidden

NATIONAL = "national"
NATIONAL_ROLES = {"platform_admin", "ministry_officer"}
INSTITUTION_STAFF = {"school_admin", "teacher", "school_system"}


def is_national_officer(principal: Principal) -> bool:
    return bool(NATIONAL_ROLES & set(principal.roles.get(NATIONAL, [])))


def provinces_of(principal: Principal) -> set[str]:
    """Province codes where the caller is a province officer."""
    return {key.split(":", 1)[1] for key, roles in principal.roles.items() if key.startswith("province:") and "province_officer" in roles}


def roles_at(principal: Principal, institution_code: str) -> set[str]:
    return set(principal.roles.get(institution_code, []))


def may_manage_province(principal: Principal, province_code: str) -> bool:
    return is_national_officer(principal) or province_code in provinces_of(principal)


def may_act_on_institution(
    principal: Principal, institution_code: str, *, province_code: str | None = None, roles: set[str] | frozenset[str] = frozenset(INSTITUTION_STAFF)
) -> bool:
    """National officers anywhere; province officers for institutions of their province; otherwise one of
    ``roles`` at that institution."""
    if is_national_officer(principal):
        return True
    if province_code is not None and province_code in provinces_of(principal):
        return True
    return bool(roles_at(principal, institution_code) & set(roles))


def ensure_institution(principal: Principal, institution_code: str, *, province_code: str | None = None, roles: set[str] | frozenset[str] = frozenset(INSTITUTION_STAFF)) -> None:
    if not may_act_on_institution(principal, institution_code, province_code=province_code, roles=roles):
        raise Forbidden(f"You may not act on institution {institution_code}.")


def person_id_of(principal: Principal) -> str | None:
    """The person a user token belongs to, if any."""
    value = principal.claims.get("person_id")
    return str(value) if value else None
