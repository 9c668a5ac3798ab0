"""Who may do what in assessment, per institution and per person.

* **Teachers and school administrators** of an institution manage its item banks, exams, rosters, grading,
  releases and gradebooks (``teacher`` or ``school_admin`` at that institution).
* **National item banks** are managed by national authors (officers with ``learning:moderate``, or
  ``learning:admin``) and read by teachers everywhere, who draw exams from them.
* **Learners** act only in the exams whose roster names them (their account, or their person when the token
  carries one); they see only their own attempts, and scores only once the results are released.
* **Enterprise assessors** (chuyên gia doanh nghiệp) hold no role at the institution: an invitation, accepted by
  their own account, lets them assess one exam — read its tasks and roster, see and add evidence, score — and
  nothing else. Teachers of the institution may assess its exams too.

Everything a caller may not see is answered 404, as if it did not exist; what they see but may not do, 403.
"""

from __future__ import annotations

from services.common.auth import Principal
from services.common.errors import Forbidden, NotFound, ValidationFailed
from services.common.permissions import person_id_of
from services.learning.courses.access import national_author
from services.learning.library.access import actor, member_institutions

__all__ = ["MANAGER_ROLES", "NATIONAL", "actor", "ensure_manager", "home_institution", "is_learner", "learner_key", "managed_institutions",
           "manages", "may_draw_from", "may_manage_bank", "may_read_bank", "member_institutions", "not_found"]
MANAGER_ROLES = frozenset({"teacher", "school_admin"})
NATIONAL = "national"


def managed_institutions(principal: Principal | None) -> set[str]:
    """Institutions whose assessments the caller manages."""
    if principal is None or principal.kind != "user":
        return set()
    return {code for code in member_institutions(principal) if MANAGER_ROLES & set(principal.roles.get(code, []))}


def manages(principal: Principal | None, institution_code: str) -> bool:
    return institution_code in managed_institutions(principal)


def ensure_manager(principal: Principal, institution_code: str) -> None:
    if not manages(principal, institution_code):
        raise Forbidden(f"Only teachers and school administrators of {institution_code} manage its assessments.")


def home_institution(principal: Principal, given: str | None, *, field: str = "institution_code") -> str:
    """The institution a new bank, exam or gradebook belongs to: the one given, or the caller's only one."""
    if given is not None:
        ensure_manager(principal, given)
        return given
    mine = sorted(managed_institutions(principal))
    if not mine:
        raise Forbidden("Only teachers and school administrators manage assessments.")
    if len(mine) > 1:
        raise ValidationFailed("Say which institution this belongs to.",
                               errors=[{"field": field, "message": "required unless you teach at exactly one institution"}])
    return mine[0]


# --- item banks --------------------------------------------------------------------------------------------------


def may_manage_bank(principal: Principal, scope: str) -> bool:
    return national_author(principal) if scope == NATIONAL else manages(principal, scope)


def may_read_bank(principal: Principal, scope: str) -> bool:
    """A national bank: every teacher (exams draw from it) and national authors; an institution's: its teachers."""
    if scope == NATIONAL:
        return bool(managed_institutions(principal)) or national_author(principal)
    return manages(principal, scope)


def may_draw_from(institution_code: str, scope: str) -> bool:
    """An exam of ``institution_code`` draws from national banks and from the institution's own."""
    return scope in (NATIONAL, institution_code)


# --- learners ----------------------------------------------------------------------------------------------------


def learner_key(person_id: str | None, account_sub: str | None) -> str:
    return f"person:{person_id}" if person_id else str(account_sub)


def is_learner(principal: Principal, person_id: str | None, account_sub: str | None) -> bool:
    """The caller is this learner: the same account, or the same person (a VNeID account and a school account of
    one citizen are one learner)."""
    person = person_id_of(principal)
    return (account_sub is not None and principal.sub == account_sub) or (person is not None and person_id == person)


def not_found(what: str, key: object) -> NotFound:
    return NotFound(f"No {what} {key}.")
