from __future__ import annotations

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from services.records.models import Base


class ReportKind(Base):
    """A kind of periodic report on the calendar (data, not code): who files it, who receives it, when it is due.
    Each yearly kind is filed as a :class:`YearlyReport` of its scope."""

    __tablename__ = "report_kinds"

    code: Mapped[str] = mapped_column(String(50), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    #: institution | province: who files one (each active institution, each province)
    scope: Mapped[str] = mapped_column(String(20))
    #: who files and who receives, as officers read it (e.g. "cơ sở GDNN" → "Sở LĐTBXH")
    filed_by: Mapped[str] = mapped_column(String(200))
    received_by: Mapped[str] = mapped_column(String(200))
    #: due on this month and day of the year it reports on
    due_month: Mapped[int] = mapped_column(Integer)
    due_day: Mapped[int] = mapped_column(Integer)
    #: the first year it is due
    first_year: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: the document that asks for it
    basis: Mapped[str | None] = mapped_column(String(300))
