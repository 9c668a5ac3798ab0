from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Entity
from services.credentials.models import Base


class StatusList(Entity, Base):
    """A Bitstring Status List of one issuer for one purpose (revocation or suspension). ``bits`` is the list
    (index 0 = the first, most significant bit); ``allocated`` marks the indexes handed out (at random)."""

    __tablename__ = "status_lists"
    __table_args__ = (UniqueConstraint("issuer_id", "purpose", "number", name="uq_status_lists_issuer_purpose_number"),)

    issuer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("issuers.id"))
    #: revocation | suspension
    purpose: Mapped[str] = mapped_column(String(20))
    number: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    bits: Mapped[bytes] = mapped_column(LargeBinary)
    allocated: Mapped[bytes] = mapped_column(LargeBinary)
    allocated_count: Mapped[int] = mapped_column(Integer, default=0)
    #: bumped whenever a bit changes; the served list's ETag
    version: Mapped[int] = mapped_column(Integer, default=1)
    #: the signed BitstringStatusListCredential of ``version``
    document: Mapped[dict[str, Any] | None] = mapped_column()
    signed_at: Mapped[datetime | None] = mapped_column()
