"""Chuẩn đầu ra: a programme's learning outcomes, each at a level of the Vietnamese Qualifications Framework (VQF,
Khung trình độ quốc gia Việt Nam: 1–8), optionally tied to one of its modules, flagged when it integrates digital
competence (năng lực số, Decision 2222/QĐ-TTg)."""

from __future__ import annotations

import uuid

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Entity
from services.records.models import Base


class LearningOutcome(Entity, Base):
    __tablename__ = "learning_outcomes"
    __table_args__ = (UniqueConstraint("programme_id", "code", name="uq_learning_outcome_code"),)

    programme_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programmes.id", ondelete="CASCADE"), index=True)
    #: None: an outcome of the whole programme; else of this module
    module_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("modules.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(50))
    text: Mapped[str] = mapped_column(String(2000))
    vqf_level: Mapped[int] = mapped_column(Integer)
    digital_competence: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
