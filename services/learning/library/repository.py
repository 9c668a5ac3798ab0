"""Every query of the library."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.learning.models import (
    Acquisition,
    Blob,
    LearningObject,
    LearningObjectTag,
    LearningObjectVersion,
    ModerationEvent,
    Package,
    Reviewer,
    UsageCounter,
)


async def get_object(session: AsyncSession, object_id: uuid.UUID, *, for_update: bool = False) -> LearningObject | None:
    stmt = select(LearningObject).where(LearningObject.id == object_id)
    if for_update and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt)).first()


async def get_version(session: AsyncSession, object_id: uuid.UUID, number: int) -> LearningObjectVersion | None:
    stmt = select(LearningObjectVersion).where(
        LearningObjectVersion.object_id == object_id, LearningObjectVersion.number == number
    )
    return (await session.scalars(stmt)).first()


async def list_versions(session: AsyncSession, object_id: uuid.UUID) -> Sequence[LearningObjectVersion]:
    stmt = (
        select(LearningObjectVersion)
        .where(LearningObjectVersion.object_id == object_id)
        .order_by(LearningObjectVersion.number.desc())
    )
    return (await session.scalars(stmt)).all()


async def blobs_by_id(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, Blob]:
    if not ids:
        return {}
    return {b.id: b for b in (await session.scalars(select(Blob).where(Blob.id.in_(ids)))).all()}


async def packages_by_blob(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, Package]:
    if not ids:
        return {}
    return {p.blob_id: p for p in (await session.scalars(select(Package).where(Package.blob_id.in_(ids)))).all()}


async def blob_by_sha(session: AsyncSession, sha256: str) -> Blob | None:
    return (await session.scalars(select(Blob).where(Blob.sha256 == sha256))).first()


async def replace_tags(session: AsyncSession, object_id: uuid.UUID, tags: set[tuple[str, str]]) -> None:
    await session.execute(delete(LearningObjectTag).where(LearningObjectTag.object_id == object_id))
    session.add_all(LearningObjectTag(object_id=object_id, kind=k, value=v) for k, v in sorted(tags))


async def history(session: AsyncSession, object_id: uuid.UUID) -> Sequence[ModerationEvent]:
    stmt = select(ModerationEvent).where(ModerationEvent.object_id == object_id).order_by(ModerationEvent.at, ModerationEvent.id)
    return (await session.scalars(stmt)).all()


async def count_usage(session: AsyncSession, object_id: uuid.UUID, institution_code: str, kind: str) -> None:
    """Add one view / download / launch, per institution, without a read-modify-write race."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(UsageCounter).values(object_id=object_id, institution_code=institution_code, kind=kind, count=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["object_id", "institution_code", "kind"], set_={"count": UsageCounter.count + 1}
    )
    await session.execute(stmt)
    column = {"view": LearningObject.view_count, "download": LearningObject.download_count}.get(kind)
    if column is not None:
        await session.execute(
            update(LearningObject).where(LearningObject.id == object_id).values({column.key: column + 1})
            .execution_options(synchronize_session=False)
        )


async def usage(session: AsyncSession, object_id: uuid.UUID) -> Sequence[UsageCounter]:
    stmt = select(UsageCounter).where(UsageCounter.object_id == object_id).order_by(UsageCounter.institution_code, UsageCounter.kind)
    return (await session.scalars(stmt)).all()


async def acquisition_of(session: AsyncSession, object_id: uuid.UUID, subject: str) -> Acquisition | None:
    stmt = select(Acquisition).where(Acquisition.object_id == object_id, Acquisition.acquirer_sub == subject)
    return (await session.scalars(stmt)).first()


async def acquired_by_institutions(session: AsyncSession, object_id: uuid.UUID, codes: set[str]) -> bool:
    if not codes:
        return False
    stmt = select(func.count()).select_from(Acquisition).where(
        Acquisition.object_id == object_id, Acquisition.institution_code.in_(codes)
    )
    return bool(await session.scalar(stmt))


async def acquisitions(session: AsyncSession, object_id: uuid.UUID) -> Sequence[Acquisition]:
    stmt = select(Acquisition).where(Acquisition.object_id == object_id).order_by(Acquisition.acquired_at)
    return (await session.scalars(stmt)).all()


async def reviewers(session: AsyncSession) -> Sequence[Reviewer]:
    return (await session.scalars(select(Reviewer).order_by(Reviewer.subject))).all()


async def get_reviewer(session: AsyncSession, subject: str) -> Reviewer | None:
    return await session.get(Reviewer, subject)


async def add_reviewer(session: AsyncSession, reviewer: Reviewer) -> None:
    session.add(reviewer)
    await session.flush()


async def delete_reviewer(session: AsyncSession, reviewer: Reviewer) -> None:
    await session.delete(reviewer)


def submitted_objects() -> Select[LearningObject]:
    """Objects whose latest version waits for review (the caller pages them oldest first)."""
    return select(LearningObject).where(LearningObject.status == "submitted")
