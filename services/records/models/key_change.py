from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import utcnow
from services.records.models import Base


class LearnerKeyChange(Base):
    """A correction of a learner's personal ID number (the natural key schools sync by): who, when, old → new, why.
    Append-only; the change feed reports it as a ``key_change``."""

    __tablename__ = "learner_key_changes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    learner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learners.id"), index=True)
    institution_code: Mapped[str] = mapped_column(String(20))
    old_id_number: Mapped[str] = mapped_column(String(12))
    new_id_number: Mapped[str] = mapped_column(String(12))
    old_person_id: Mapped[uuid.UUID] = mapped_column()
    new_person_id: Mapped[uuid.UUID] = mapped_column()
    reason: Mapped[str] = mapped_column(String(500))
    actor: Mapped[str] = mapped_column(String(200))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
