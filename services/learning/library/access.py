"""Who may see and do what in the library.

* Staff (teacher, school admin) of the owning institution see every version and state of its objects; teachers
  and school admins holding ``learning:publish`` create, edit and submit them.
* Beyond that institution only published versions are visible: ``public`` to anyone (no token needed),
  ``platform`` to anyone signed in, ``institution`` to members (students too) of the owning institution.
* Moderators — officers with ``learning:moderate`` or designated reviewers — see submitted material, publish,
  reject and withdraw. Nobody publishes their own institution's material without a moderator.
"""

from __future__ import annotations

from sqlalchemy import and_, false, or_
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.errors import Forbidden, NotFound, Unauthorized
from services.learning.models import LearningObject, LearningObjectVersion, Reviewer

PUBLISH_SCOPE = "learning:publish"
MODERATE_SCOPE = "learning:moderate"
AUTHOR_ROLES = {"teacher", "school_admin"}


def actor(principal: Principal | None) -> str:
    if principal is None:
        return "anonymous"
    return principal.sub if principal.kind == "user" else f"client:{principal.client_id or principal.sub}"


def member_institutions(principal: Principal | None) -> set[str]:
    if principal is None:
        return set()
    return {code for code, roles in principal.roles.items() if roles and ":" not in code and code != "national"}


def staff_institutions(principal: Principal | None) -> set[str]:
    if principal is None:
        return set()
    return {code for code in member_institutions(principal) if AUTHOR_ROLES & set(principal.roles.get(code, []))}


def home_institution(principal: Principal | None) -> str:
    """The reader's institution for usage counts ('' when none or ambiguous)."""
    codes = sorted(member_institutions(principal))
    return codes[0] if codes else ""


async def is_moderator(session: AsyncSession, principal: Principal | None) -> bool:
    if principal is None:
        return False
    if MODERATE_SCOPE in principal.scopes:
        return True
    return principal.kind == "user" and await session.get(Reviewer, principal.sub) is not None


async def ensure_moderator(session: AsyncSession, principal: Principal | None) -> None:
    if principal is None:
        raise Unauthorized("A bearer token is required.")
    if not await is_moderator(session, principal):
        raise Forbidden("Only moderators (officers with learning:moderate or designated reviewers) may do this.")


def ensure_author(principal: Principal, institution_code: str) -> None:
    if PUBLISH_SCOPE not in principal.scopes:
        raise Forbidden(f"This call needs the scope {PUBLISH_SCOPE}.", missing_scopes=[PUBLISH_SCOPE])
    if institution_code not in staff_institutions(principal):
        raise Forbidden(f"You may not author learning material for institution {institution_code}.")


def is_insider(principal: Principal | None, obj: LearningObject) -> bool:
    return obj.institution_code in staff_institutions(principal)


def published_audience_allows(principal: Principal | None, obj: LearningObject, visibility: str) -> bool:
    if visibility == "public":
        return True
    if visibility == "platform":
        return principal is not None
    return obj.institution_code in member_institutions(principal)


async def ensure_can_see_version(
    session: AsyncSession, principal: Principal | None, obj: LearningObject, version: LearningObjectVersion
) -> None:
    """NotFound (not Forbidden: existence is not disclosed) unless the caller may read this version."""
    if is_insider(principal, obj):
        return
    if version.status == "submitted" or (version.status in {"published", "superseded"} and version.published_at):
        if await is_moderator(session, principal):
            return
    if (
        obj.published_version is not None
        and version.published_at is not None
        and published_audience_allows(principal, obj, version.meta.get("visibility", "institution"))
    ):
        return
    raise NotFound(f"No learning object {obj.id}.")


def listing_filter(principal: Principal | None):  # noqa: ANN201 - a SQL expression
    """SQL condition: the objects whose listing the caller may see in search and lists."""
    members = member_institutions(principal)
    staff = staff_institutions(principal)
    audience = [LearningObject.visibility == "public"]
    if principal is not None:
        audience.append(LearningObject.visibility == "platform")
    if members:
        audience.append(and_(LearningObject.visibility == "institution", LearningObject.institution_code.in_(members)))
    published = and_(LearningObject.published_version.is_not(None), or_(*audience))
    return or_(published, LearningObject.institution_code.in_(staff)) if staff else (published if audience else false())


def listing_key(principal: Principal | None) -> tuple[bool, frozenset[str], frozenset[str]]:
    """Everything :func:`listing_filter` depends on: two callers with the same key see the same objects."""
    return (principal is not None, frozenset(member_institutions(principal)), frozenset(staff_institutions(principal)))


def ensure_moderator_scope(principal: Principal) -> None:
    """Designating reviewers is for officers themselves, not for reviewers."""
    if MODERATE_SCOPE not in principal.scopes:
        raise Forbidden(f"This call needs the scope {MODERATE_SCOPE}.", missing_scopes=[MODERATE_SCOPE])
