from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Entity
from services.records.models import Base


class YearlyReport(Entity, Base):
    """Báo cáo năm of an institution or a province: draft (figures recomputed on refresh) → submitted (frozen),
    late after the year's deadline (:func:`services.records.reports.service.deadline`)."""

    __tablename__ = "yearly_reports"
    __table_args__ = (UniqueConstraint("scope", "scope_code", "year", name="uq_yearly_report"),)

    #: institution | province
    scope: Mapped[str] = mapped_column(String(20))
    scope_code: Mapped[str] = mapped_column(String(20))
    year: Mapped[int] = mapped_column(Integer)
    #: draft | submitted
    status: Mapped[str] = mapped_column(String(20), default="draft")
    figures: Mapped[dict[str, Any]] = mapped_column()
    notes: Mapped[str | None] = mapped_column(String(4000))
    created_by: Mapped[str] = mapped_column(String(200))
    submitted_by: Mapped[str | None] = mapped_column(String(200))
    submitted_at: Mapped[datetime | None] = mapped_column()
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
