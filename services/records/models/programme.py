from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Entity
from services.records.models import Base


class Programme(Entity, Base):
    """Chương trình đào tạo: an institution's programme for one occupation and level, in one version (year)."""

    __tablename__ = "programmes"
    __table_args__ = (UniqueConstraint("institution_code", "code", name="uq_programme_code"),)

    institution_code: Mapped[str] = mapped_column(String(20), index=True)
    code: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(300))
    #: elementary | intermediate | college | short_course
    level: Mapped[str] = mapped_column(String(20))
    occupation_code: Mapped[str | None] = mapped_column(String(7))
    #: version of the programme: the year it was issued
    year: Mapped[int] = mapped_column(Integer)
    grading_policy_code: Mapped[str] = mapped_column(String(50))
    #: default assessment weights of its modules, e.g. {"continuous": "0.4", "final": "0.6"}
    weights: Mapped[dict[str, Any]] = mapped_column()
    version: Mapped[int] = mapped_column(Integer, default=1)


class Module(Entity, Base):
    """Mô-đun / môn học of a programme."""

    __tablename__ = "modules"
    __table_args__ = (UniqueConstraint("programme_id", "code", name="uq_module_code"),)

    programme_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programmes.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(300))
    credits: Mapped[int] = mapped_column(Integer)
    #: overrides the programme's weights when set
    weights: Mapped[dict[str, Any] | None] = mapped_column()
    #: môn điều kiện (physical / defence education): required to graduate, outside the GPA
    is_condition: Mapped[bool] = mapped_column(Boolean, default=False)


class Term(Entity, Base):
    """Học kỳ of an institution."""

    __tablename__ = "terms"
    __table_args__ = (UniqueConstraint("institution_code", "code", name="uq_term_code"),)

    institution_code: Mapped[str] = mapped_column(String(20), index=True)
    code: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(300))
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)


class Cohort(Entity, Base):
    """Khóa / lớp: learners of one programme who started together."""

    __tablename__ = "cohorts"
    __table_args__ = (UniqueConstraint("institution_code", "code", name="uq_cohort_code"),)

    institution_code: Mapped[str] = mapped_column(String(20), index=True)
    programme_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programmes.id"), index=True)
    code: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(300))
    start_year: Mapped[int] = mapped_column(Integer)
    graduation_decision_number: Mapped[str | None] = mapped_column(String(100))
    graduation_decision_date: Mapped[date | None] = mapped_column(Date)
