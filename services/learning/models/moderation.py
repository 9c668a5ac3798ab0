from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import utcnow
from services.learning.models import Base


class ModerationEvent(Base):
    """Append-only history of an object's review: created, submitted, published, rejected, withdrawn."""

    __tablename__ = "moderation_events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    object_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learning_objects.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(2000))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Reviewer(Base):
    """A person designated by an officer to moderate the library (beside officers with ``learning:moderate``)."""

    __tablename__ = "reviewers"

    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    note: Mapped[str | None] = mapped_column(String(500))
    designated_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
