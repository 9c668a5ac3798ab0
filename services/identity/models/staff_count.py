from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Entity, utcnow
from services.identity.models import Base


class StaffCount(Entity, Base):
    """Đội ngũ: an institution's headcount of teachers (nhà giáo) and managers (cán bộ quản lý) in a year, as the
    school reported it. The denominator of the Decision 2222 target on teachers and managers trained in digital
    competence. One row per institution and year; a new report replaces the year's figures (audited)."""

    __tablename__ = "institution_staff_counts"
    __table_args__ = (UniqueConstraint("institution_code", "year", name="uq_staff_count_year"),)

    institution_code: Mapped[str] = mapped_column(String(20), index=True)
    year: Mapped[int] = mapped_column(Integer)
    teachers: Mapped[int] = mapped_column(Integer)
    managers: Mapped[int] = mapped_column(Integer)
    reported_by: Mapped[str] = mapped_column(String(200))
    reported_at: Mapped[datetime] = mapped_column(default=utcnow)
