"""Admissions: secondary-school graduates pushed by the education departments' systems, who received their data
(consents), programme intakes and applications."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Entity
from services.records.models import Base


class SecondaryGraduate(Entity, Base):
    """A secondary-school graduate as their school (or the province's education department) pushed them; one per
    person, school and graduation year (the natural key a push upserts by)."""

    __tablename__ = "admission_graduates"
    __table_args__ = (UniqueConstraint("id_number", "school_code", "graduation_year", name="uq_admission_graduate"),)

    person_id: Mapped[uuid.UUID] = mapped_column(index=True)
    id_number: Mapped[str] = mapped_column(String(12))
    full_name: Mapped[str] = mapped_column(String(300))
    date_of_birth: Mapped[date] = mapped_column(Date)
    #: male | female
    sex: Mapped[str | None] = mapped_column(String(10))
    school_code: Mapped[str] = mapped_column(String(20))
    school_name: Mapped[str] = mapped_column(String(300))
    province_code: Mapped[str] = mapped_column(String(3), index=True)
    district: Mapped[str] = mapped_column(String(100))
    graduation_year: Mapped[int] = mapped_column(Integer, index=True)
    #: subject → score on the 0–10 scale, as text ("8.25")
    results: Mapped[dict[str, Any]] = mapped_column()
    #: the machine client that pushed it last
    source: Mapped[str] = mapped_column(String(200))


class AdmissionConsent(Base):
    """An institution that received a person's graduate data: because they applied there (``application``) or
    agreed to its counselling (``counselling``). Withdrawn, the institution no longer sees the data."""

    __tablename__ = "admission_consents"
    __table_args__ = (UniqueConstraint("person_id", "institution_code", "purpose", name="uq_admission_consent"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(index=True)
    institution_code: Mapped[str] = mapped_column(String(20), index=True)
    #: application | counselling
    purpose: Mapped[str] = mapped_column(String(20))
    granted_at: Mapped[datetime] = mapped_column()
    withdrawn_at: Mapped[datetime | None] = mapped_column()


class Intake(Entity, Base):
    """A programme's intake (đợt tuyển sinh): capacity, the dates applications are open, the criteria as data."""

    __tablename__ = "admission_intakes"
    __table_args__ = (UniqueConstraint("institution_code", "code", name="uq_admission_intake"),)

    institution_code: Mapped[str] = mapped_column(String(20), index=True)
    code: Mapped[str] = mapped_column(String(50))
    programme_code: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(300))
    year: Mapped[int] = mapped_column(Integer)
    capacity: Mapped[int] = mapped_column(Integer)
    opens_on: Mapped[date] = mapped_column(Date)
    closes_on: Mapped[date] = mapped_column(Date)
    #: {"min_average": "5.0", "required_subjects": ["toan"]}: checked against the pushed results
    criteria: Mapped[dict[str, Any]] = mapped_column()


class Application(Entity, Base):
    """A person's application to an intake: submitted → reviewed → offered → accepted | declined → enrolled (or
    rejected, or withdrawn by the applicant)."""

    __tablename__ = "admission_applications"
    __table_args__ = (UniqueConstraint("intake_id", "person_id", name="uq_admission_application"),)

    intake_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("admission_intakes.id"), index=True)
    institution_code: Mapped[str] = mapped_column(String(20), index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(index=True)
    graduate_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("admission_graduates.id"))
    id_number: Mapped[str] = mapped_column(String(12))
    full_name: Mapped[str] = mapped_column(String(300))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    sex: Mapped[str | None] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), index=True)
    #: the institution's reason or note on the last decision
    note: Mapped[str | None] = mapped_column(String(500))
    #: the learner record the accepted offer became
    learner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("learners.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
