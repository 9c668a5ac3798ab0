from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import utcnow
from services.learning.models import Base


class UploadSession(Base):
    """A resumable upload of one file for one learning object: S3 multipart (or the folder store's staging)
    underneath. Parts arrive in any order, each any number of times; the client asks which it has to resume."""

    __tablename__ = "upload_sessions"
    __table_args__ = (Index("ix_upload_sessions_status_expires_at", "status", "expires_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    object_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learning_objects.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(255))
    declared_type: Mapped[str | None] = mapped_column(String(200))
    detected_type: Mapped[str | None] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)
    part_size: Mapped[int] = mapped_column(BigInteger)
    object_key: Mapped[str] = mapped_column(String(500))
    store_upload_id: Mapped[str] = mapped_column(String(500))
    change_note: Mapped[str | None] = mapped_column(String(1000))
    #: open | completed | aborted | expired (the sweeper: past expires_at, its store upload aborted)
    status: Mapped[str] = mapped_column(String(20), default="open")
    version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class UploadPart(Base):
    __tablename__ = "upload_parts"

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("upload_sessions.id", ondelete="CASCADE"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    etag: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
