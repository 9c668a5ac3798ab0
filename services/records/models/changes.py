from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import utcnow
from services.records.models import Base


class ChangeCounter(Base):
    """The one row that hands out change versions. A writer updates it (``value = value + n``) in the same
    transaction as its changes; the row lock held until commit makes versions commit in increasing order."""

    __tablename__ = "change_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class Change(Base):
    """One entry of the change feed (Ed-Fi change-query style): upsert, delete or key change, by natural key."""

    __tablename__ = "changes"

    version: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    institution_code: Mapped[str] = mapped_column(String(20), index=True)
    #: programme | module | term | cohort | learner | enrolment | grade
    entity: Mapped[str] = mapped_column(String(20))
    #: upsert | delete | key_change
    operation: Mapped[str] = mapped_column(String(20))
    key: Mapped[dict[str, Any]] = mapped_column()
    old_key: Mapped[dict[str, Any] | None] = mapped_column()
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
