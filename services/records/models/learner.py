from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Entity, utcnow
from services.records.models import Base
from services.records.models.types import DecimalText


class Learner(Entity, Base):
    """Người học at one institution, linked to the person in identity. The personal ID number is kept because it
    is the natural key schools sync by; it leaves the service masked except to the person and officers."""

    __tablename__ = "learners"
    __table_args__ = (UniqueConstraint("institution_code", "id_number", name="uq_learner_number"),)

    institution_code: Mapped[str] = mapped_column(String(20), index=True)
    id_number: Mapped[str] = mapped_column(String(12))
    person_id: Mapped[uuid.UUID] = mapped_column(index=True)
    learner_code: Mapped[str | None] = mapped_column(String(50))
    full_name: Mapped[str] = mapped_column(String(300))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    #: male | female
    sex: Mapped[str | None] = mapped_column(String(10))
    birth_place: Mapped[str | None] = mapped_column(String(300))
    #: dân tộc, as the school records it (e.g. "Kinh", "Tày", "H'Mông")
    ethnicity: Mapped[str | None] = mapped_column(String(50))
    ethnic_minority: Mapped[bool] = mapped_column(Boolean, default=False)
    disability: Mapped[bool] = mapped_column(Boolean, default=False)


class Enrolment(Entity, Base):
    """A learner in a programme (and cohort): status, mode, and once graduated the decision and result."""

    __tablename__ = "enrolments"
    __table_args__ = (UniqueConstraint("learner_id", "programme_id", name="uq_enrolment"),)

    institution_code: Mapped[str] = mapped_column(String(20), index=True)
    learner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learners.id"), index=True)
    programme_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programmes.id"), index=True)
    cohort_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cohorts.id"), index=True)
    #: full_time (chính quy) | work_study (vừa làm vừa học)
    mode: Mapped[str] = mapped_column(String(20))
    #: enrolled | suspended | withdrawn | graduated
    status: Mapped[str] = mapped_column(String(20))
    enrolled_on: Mapped[date | None] = mapped_column(Date)
    graduated_on: Mapped[date | None] = mapped_column(Date)
    graduation_year: Mapped[int | None] = mapped_column(Integer)
    decision_number: Mapped[str | None] = mapped_column(String(100))
    decision_date: Mapped[date | None] = mapped_column(Date)
    gpa: Mapped[Decimal | None] = mapped_column(DecimalText())
    classification: Mapped[str | None] = mapped_column(String(30))
    version: Mapped[int] = mapped_column(Integer, default=1)


class EnrolmentStatusChange(Base):
    """Status history of an enrolment (append-only)."""

    __tablename__ = "enrolment_status_changes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    enrolment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("enrolments.id", ondelete="CASCADE"), index=True)
    previous_status: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    effective_on: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(100))
    actor: Mapped[str] = mapped_column(String(200))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
