from __future__ import annotations

from datetime import date

from sqlalchemy import Date, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Entity
from services.identity.models import Base


class Institution(Entity, Base):
    """Cơ sở giáo dục nghề nghiệp: a VET institution in the national registry (the digital map)."""

    __tablename__ = "institutions"

    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(500))
    #: name folded for search with or without diacritics
    name_folded: Mapped[str] = mapped_column(String(500), default="", index=True)
    #: college (trường cao đẳng) | intermediate (trường trung cấp) | vet_centre (trung tâm GDNN) | enterprise (doanh
    #: nghiệp: a participant in training — reviews programmes, sits on assessment panels, gives employer feedback) | other
    type: Mapped[str] = mapped_column(String(30))
    #: public | private | foreign_invested
    ownership: Mapped[str] = mapped_column(String(30), default="public")
    #: current (post-2025) province code
    province_code: Mapped[str] = mapped_column(String(3), index=True)
    address: Mapped[str | None] = mapped_column(String(500))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    #: active | merged | closed
    status: Mapped[str] = mapped_column(String(20), default="active")
    established_on: Mapped[date | None] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    parent_code: Mapped[str | None] = mapped_column(String(20))
    merged_into_code: Mapped[str | None] = mapped_column(String(20))
    #: bumped on every change; the ETag of the record
    version: Mapped[int] = mapped_column(Integer, default=1)
