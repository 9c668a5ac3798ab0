from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import utcnow
from services.learning.models import Base


class UsageCounter(Base):
    """Views and downloads of an object, per institution of the reader ('' for readers without one)."""

    __tablename__ = "usage_counters"

    object_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learning_objects.id", ondelete="CASCADE"), primary_key=True)
    institution_code: Mapped[str] = mapped_column(String(20), primary_key=True)
    #: view | download | launch
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class Acquisition(Base):
    """Who acquired a marketplace object, on what terms and at what price: the record a payment system needs
    (no payment is processed here)."""

    __tablename__ = "acquisitions"
    __table_args__ = (UniqueConstraint("object_id", "acquirer_sub", name="uq_acquisition_object_acquirer"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    object_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learning_objects.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    acquirer_sub: Mapped[str] = mapped_column(String(200))
    institution_code: Mapped[str | None] = mapped_column(String(20))
    price_amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    terms: Mapped[str] = mapped_column(Text)
    terms_sha256: Mapped[str] = mapped_column(String(64))
    licence: Mapped[dict[str, Any]] = mapped_column()
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)
