from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import utcnow
from services.credentials.models import Base


class VerificationLog(Base):
    """One verification, without personal data: which credential (if it is one of ours), the issuer, the outcome
    and each check's result."""

    __tablename__ = "verification_log"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    #: public | lookup | bulk
    channel: Mapped[str] = mapped_column(String(20))
    client_id: Mapped[str | None] = mapped_column(String(200))
    credential_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    issuer: Mapped[str | None] = mapped_column(String(300))
    outcome: Mapped[str] = mapped_column(String(30))
    checks: Mapped[dict[str, Any]] = mapped_column()
    request_id: Mapped[str | None] = mapped_column(String(128))
