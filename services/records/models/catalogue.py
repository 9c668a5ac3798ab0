from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import utcnow
from services.records.models import Base


class Occupation(Base):
    """Ngành, nghề: the national 7-digit occupation list (trung cấp codes begin with 5, cao đẳng with 6). Data,
    loaded from ``data/occupations.csv`` (a sample) or the admin import, never code."""

    __tablename__ = "occupations"

    code: Mapped[str] = mapped_column(String(7), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    #: intermediate | college, from the first digit
    level: Mapped[str] = mapped_column(String(20))


class GradingPolicyRow(Base):
    """A grading policy (thresholds, letters, classifications) as data; see :mod:`services.records.grading.rules`."""

    __tablename__ = "grading_policies"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(50), unique=True)
    rules: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InstitutionRef(Base):
    """This service's copy of an institution's registry entry (identity owns it): what authorisation by province
    and statistics need."""

    __tablename__ = "institution_refs"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    province_code: Mapped[str] = mapped_column(String(3), index=True)
    type: Mapped[str] = mapped_column(String(30))
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
