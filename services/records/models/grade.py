from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Entity, utcnow
from services.records.models import Base
from services.records.models.types import DecimalText


class Grade(Entity, Base):
    """One sitting of a module by an enrolled learner in a term. Natural key: institution + personal ID +
    programme + module + term, i.e. (enrolment, module, term)."""

    __tablename__ = "grades"
    __table_args__ = (UniqueConstraint("enrolment_id", "module_id", "term_id", name="uq_grade_sitting"),)

    institution_code: Mapped[str] = mapped_column(String(20), index=True)
    #: no index of its own: uq_grade_sitting (enrolment_id, module_id, term_id) leads with it
    enrolment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("enrolments.id"))
    module_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("modules.id"), index=True)
    term_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("terms.id"), index=True)
    #: component scores as decimal strings, e.g. {"continuous": "7.5", "final": "8.0"}
    components: Mapped[dict[str, Any]] = mapped_column()
    score: Mapped[Decimal] = mapped_column(DecimalText())
    letter: Mapped[str] = mapped_column(String(2))
    points: Mapped[Decimal] = mapped_column(DecimalText())
    passed: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer, default=1)


class GradeAudit(Base):
    """Every change to a grade: who, when, old → new, why, from where. Append-only."""

    __tablename__ = "grade_audit"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    grade_id: Mapped[uuid.UUID] = mapped_column(index=True)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    #: api | sync | oneroster
    source: Mapped[str] = mapped_column(String(50))
    sync_job_id: Mapped[uuid.UUID | None] = mapped_column()
    reason: Mapped[str | None] = mapped_column(String(500))
    old: Mapped[dict[str, Any] | None] = mapped_column()
    new: Mapped[dict[str, Any] | None] = mapped_column()
