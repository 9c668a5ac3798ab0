"""Every query of LTI."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import Database, claim_query, insert_for, unleased
from services.common.pagination import Page, PageParams, paginate
from services.learning.models import (
    Course,
    LtiGradeLink,
    LtiLoginState,
    LtiPlatform,
    LtiResourceLink,
    LtiScore,
    LtiSession,
    LtiToolKey,
    LtiUser,
)

# -- tool keys --------------------------------------------------------------------------------------------------------


async def active_tool_key(session: AsyncSession) -> LtiToolKey | None:
    stmt = select(LtiToolKey).where(LtiToolKey.status == "active").order_by(LtiToolKey.created_at.desc()).limit(1)
    return (await session.scalars(stmt)).first()


async def retire_tool_keys(session: AsyncSession, now: datetime, retire_after: datetime) -> None:
    """Retiring keys past their time become retired; the active one starts retiring."""
    await session.execute(update(LtiToolKey).where(LtiToolKey.status == "retiring", LtiToolKey.retire_after <= now)
                          .values(status="retired"))
    await session.execute(update(LtiToolKey).where(LtiToolKey.status == "active")
                          .values(status="retiring", retire_after=retire_after))


async def published_tool_keys(session: AsyncSession, now: datetime) -> Sequence[LtiToolKey]:
    stmt = select(LtiToolKey).where(or_(LtiToolKey.status == "active",
                                        (LtiToolKey.status == "retiring") & (LtiToolKey.retire_after > now)))
    return (await session.scalars(stmt.order_by(LtiToolKey.created_at.desc()))).all()


# -- platforms --------------------------------------------------------------------------------------------------------


async def platform_by_client(session: AsyncSession, issuer: str, client_id: str) -> LtiPlatform | None:
    stmt = select(LtiPlatform).where(LtiPlatform.issuer == issuer, LtiPlatform.client_id == client_id)
    return (await session.scalars(stmt)).first()


async def platforms_of_issuer(session: AsyncSession, issuer: str) -> Sequence[LtiPlatform]:
    return (await session.scalars(select(LtiPlatform).where(LtiPlatform.issuer == issuer, LtiPlatform.active.is_(True)))).all()


async def platforms_page(session: AsyncSession, institutions: set[str] | None, page: PageParams, transform: Any) -> Page[Any]:
    """Platforms in order of registration: all (``None``) or those of the institutions given."""
    stmt = select(LtiPlatform)
    if institutions is not None:
        stmt = stmt.where(LtiPlatform.institution_code.in_(sorted(institutions)))
    return await paginate(session, stmt, (LtiPlatform.created_at, LtiPlatform.id), page, transform=transform)


# -- login states -----------------------------------------------------------------------------------------------------


async def login_state(session: AsyncSession, state_hash: str) -> LtiLoginState | None:
    return (await session.scalars(select(LtiLoginState).where(LtiLoginState.state_hash == state_hash))).first()


async def use_login_state(session: AsyncSession, state_id: uuid.UUID, now: datetime) -> bool:
    """Marks the state used in the statement that checks it was not: two launches with one state cannot both pass."""
    result = await session.execute(update(LtiLoginState).where(LtiLoginState.id == state_id, LtiLoginState.used_at.is_(None))
                                   .values(used_at=now))
    return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]


async def purge_expired(session: AsyncSession, before: datetime) -> int:
    """Login states and sessions whose time is over (kept a while after for the record of replays refused)."""
    states = await session.execute(delete(LtiLoginState).where(LtiLoginState.expires_at < before))
    sessions = await session.execute(delete(LtiSession).where(LtiSession.expires_at < before))
    return int(states.rowcount or 0) + int(sessions.rowcount or 0)  # type: ignore[attr-defined]


# -- users, resource links, sessions, grade links ---------------------------------------------------------------------


async def upsert_user(session: AsyncSession, platform_id: uuid.UUID, sub: str, values: dict[str, Any]) -> LtiUser:
    stmt = insert_for(session)(LtiUser).values(id=uuid.uuid4(), platform_id=platform_id, sub=sub, **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=["platform_id", "sub"], set_=values))
    user = (await session.scalars(select(LtiUser).where(LtiUser.platform_id == platform_id, LtiUser.sub == sub)
                                  .execution_options(populate_existing=True))).first()
    assert user is not None
    return user


async def upsert_resource_link(session: AsyncSession, platform_id: uuid.UUID, deployment_id: str, link_id: str,
                               values: dict[str, Any]) -> LtiResourceLink:
    stmt = insert_for(session)(LtiResourceLink).values(id=uuid.uuid4(), platform_id=platform_id, deployment_id=deployment_id,
                                                       resource_link_id=link_id, **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=["platform_id", "deployment_id", "resource_link_id"], set_=values))
    link = (await session.scalars(select(LtiResourceLink).where(
        LtiResourceLink.platform_id == platform_id, LtiResourceLink.deployment_id == deployment_id,
        LtiResourceLink.resource_link_id == link_id).execution_options(populate_existing=True))).first()
    assert link is not None
    return link


async def ensure_grade_link(session: AsyncSession, resource_link_id: uuid.UUID, lti_user_id: uuid.UUID, record: str,
                            now: datetime) -> None:
    stmt = insert_for(session)(LtiGradeLink).values(id=uuid.uuid4(), resource_link_id=resource_link_id, lti_user_id=lti_user_id,
                                                    record=record, created_at=now)
    await session.execute(stmt.on_conflict_do_update(index_elements=["resource_link_id", "lti_user_id"], set_={"record": record}))


async def session_by_token(session: AsyncSession, token_hash: str) -> LtiSession | None:
    return (await session.scalars(select(LtiSession).where(LtiSession.token_hash == token_hash))).first()


async def launchable_courses(session: AsyncSession, institution_code: str | None, limit: int) -> Sequence[Course]:
    """Published courses a platform may launch: national ones, and its institution's own."""
    owners: list[ColumnElement[bool]] = [Course.institution_code.is_(None)]
    if institution_code is not None:
        owners.append(Course.institution_code == institution_code)
    stmt = select(Course).where(Course.status == "published", or_(*owners)).order_by(Course.title_folded, Course.id).limit(limit)
    return (await session.scalars(stmt)).all()


# -- scores -----------------------------------------------------------------------------------------------------------


async def grade_links_of(session: AsyncSession, record: str) -> list[tuple[LtiGradeLink, LtiResourceLink, LtiUser]]:
    """The platforms' line items a learning-side record is reported to (only links with a line item)."""
    stmt = (select(LtiGradeLink, LtiResourceLink, LtiUser)
            .join(LtiResourceLink, LtiResourceLink.id == LtiGradeLink.resource_link_id)
            .join(LtiUser, LtiUser.id == LtiGradeLink.lti_user_id)
            .where(LtiGradeLink.record == record, LtiResourceLink.lineitem_url.is_not(None)))
    return [(g, r, u) for g, r, u in (await session.execute(stmt)).all()]


async def records_reported(session: AsyncSession, records: list[str]) -> set[str]:
    """Which of these learning-side records are reported to a line item."""
    found: set[str] = set()
    for start in range(0, len(records), 500):
        stmt = (select(LtiGradeLink.record).join(LtiResourceLink, LtiResourceLink.id == LtiGradeLink.resource_link_id)
                .where(LtiGradeLink.record.in_(records[start:start + 500]), LtiResourceLink.lineitem_url.is_not(None)))
        found |= set((await session.scalars(stmt)).all())
    return found


async def add_score(session: AsyncSession, row: dict[str, Any]) -> bool:
    """A score to post, unless one for the same grade link and source is there already. True if added."""
    stmt = insert_for(session)(LtiScore).values(**row).on_conflict_do_nothing(index_elements=["grade_link_id", "source"])
    return bool((await session.execute(stmt.returning(LtiScore.id))).first())


async def claim_scores(db: Database, session: AsyncSession, now: datetime, limit: int) -> list[LtiScore]:
    stmt = (select(LtiScore).where(LtiScore.status == "pending", LtiScore.next_attempt_at <= now, unleased(LtiScore.locked_until, now))
            .order_by(LtiScore.next_attempt_at).limit(limit))
    return list((await session.scalars(claim_query(db, stmt))).all())


async def record_score(session: AsyncSession, score_id: uuid.UUID, values: dict[str, Any]) -> None:
    await session.execute(update(LtiScore).where(LtiScore.id == score_id).values(**values))


async def extend_score_leases(session: AsyncSession, score_ids: list[uuid.UUID], locked_until: datetime) -> None:
    """The sender's heartbeat: claimed scores not yet recorded (still leased) are kept until ``locked_until``."""
    await session.execute(update(LtiScore).where(LtiScore.id.in_(score_ids), LtiScore.status == "pending",
                                                 LtiScore.locked_until.is_not(None)).values(locked_until=locked_until))


async def scores_page(session: AsyncSession, platform_id: uuid.UUID, status: str | None, page: PageParams, transform: Any) -> Page[Any]:
    stmt = select(LtiScore).where(LtiScore.platform_id == platform_id)
    if status:
        stmt = stmt.where(LtiScore.status == status)
    return await paginate(session, stmt, (LtiScore.created_at, LtiScore.id), page, transform=transform)


async def redrive_scores(session: AsyncSession, platform_id: uuid.UUID, now: datetime) -> int:
    result = await session.execute(update(LtiScore).where(LtiScore.platform_id == platform_id, LtiScore.status == "failed")
                                   .values(status="pending", attempts=0, next_attempt_at=now, locked_until=None))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
