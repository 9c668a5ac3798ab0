from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Entity, utcnow
from services.records.models import Base


class SyncJob(Entity, Base):
    """A school's bulk upload being applied. Rows are applied in committed chunks; ``applied_through`` is the
    last row whose chunk committed, in the same transaction as the rows, so a job resumed after a crash never
    applies a row twice."""

    __tablename__ = "sync_jobs"
    __table_args__ = (
        Index("ix_sync_jobs_due", "status", "locked_until"),
        Index("ix_sync_jobs_upload_retention", "upload_deleted_at", "finished_at"),
    )

    institution_code: Mapped[str] = mapped_column(String(20), index=True)
    #: json | csv | oneroster
    format: Mapped[str] = mapped_column(String(20))
    #: for CSV: programmes | terms | cohorts | learners | enrolments | grades
    entity: Mapped[str | None] = mapped_column(String(20))
    #: all_or_nothing | accept_valid
    mode: Mapped[str] = mapped_column(String(20))
    #: OneRoster: bulk | delta (from the manifest)
    processing: Mapped[str | None] = mapped_column(String(10))
    #: queued → running → succeeded | completed_with_errors | failed
    status: Mapped[str] = mapped_column(String(30), default="queued")
    object_key: Mapped[str] = mapped_column(String(500))
    upload_bytes: Mapped[int] = mapped_column(Integer, default=0)
    #: hex SHA-256 of the uploaded file, kept after the file is deleted (what was sent stays provable)
    upload_sha256: Mapped[str | None] = mapped_column(String(64))
    #: when the upload was deleted from the object store: the job ended and the retention window passed
    upload_deleted_at: Mapped[datetime | None] = mapped_column()
    rows_total: Mapped[int | None] = mapped_column(Integer)
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    applied_through: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[datetime | None] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    #: while the job waits out a transient failure (database connection, identity, a timeout): why, and since when
    #: (it fails only after ``retry_give_up_seconds`` of this without progress); cleared when a chunk commits
    waiting: Mapped[str | None] = mapped_column(Text)
    waiting_since: Mapped[datetime | None] = mapped_column()
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()


class SyncJobError(Base):
    """One problem with one row of a job: row number, field, message."""

    __tablename__ = "sync_job_errors"
    __table_args__ = (Index("ix_sync_job_errors_job_row", "job_id", "row"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sync_jobs.id", ondelete="CASCADE"))
    row: Mapped[int] = mapped_column(Integer)
    #: the file (OneRoster) or record type (JSON) the row came from
    source: Mapped[str | None] = mapped_column(String(50))
    field: Mapped[str] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SyncJobProgress(Base):
    """How far an all_or_nothing job has read, while it runs. Such a job applies every row in one transaction that
    also holds its job row, so its counts only commit at the end; this row is written beside it, each statement
    committing on its own (PostgreSQL), so a school can watch the job. Gone once the job ends."""

    __tablename__ = "sync_job_progress"

    #: no foreign key: checking one would wait for the job row the job's own transaction holds
    job_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
