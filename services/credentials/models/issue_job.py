from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Entity
from services.credentials.models import Base


class IssueJob(Entity, Base):
    """A batch of credentials to issue (a graduating cohort), worked through in chunks by whichever replica
    claims it (a lease, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL); it survives the death of that replica."""

    __tablename__ = "issue_jobs"
    __table_args__ = (Index("ix_issue_jobs_due", "state", "locked_until"),)

    institution_code: Mapped[str] = mapped_column(String(20), index=True)
    requested_by: Mapped[str] = mapped_column(String(200))
    #: request | event
    source: Mapped[str] = mapped_column(String(20), default="request")
    source_event_id: Mapped[uuid.UUID | None] = mapped_column(unique=True)
    #: queued | running | completed | failed
    state: Mapped[str] = mapped_column(String(20), default="queued")
    total: Mapped[int] = mapped_column(Integer)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    issued: Mapped[int] = mapped_column(Integer, default=0)
    existing: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column()
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)
    #: while the job waits out a transient failure (database connection, identity, a timeout): why, and since when
    #: (it fails only after ``retry_give_up_seconds`` of this without a chunk committing)
    waiting: Mapped[str | None] = mapped_column(Text)
    waiting_since: Mapped[datetime | None] = mapped_column()


class IssueJobItem(Base):
    """One credential of a batch: its input, and once processed the credential or the problem."""

    __tablename__ = "issue_job_items"
    __table_args__ = (
        UniqueConstraint("job_id", "position", name="uq_issue_job_items_position"),
        Index("ix_issue_job_items_pending", "job_id", "state", "position"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("issue_jobs.id"))
    position: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column()
    #: pending | issued | existing | failed
    state: Mapped[str] = mapped_column(String(20), default="pending")
    credential_id: Mapped[uuid.UUID | None] = mapped_column()
    errors: Mapped[list[Any] | None] = mapped_column()
