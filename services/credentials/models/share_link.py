from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Entity
from services.credentials.models import Base


class ShareLink(Entity, Base):
    """A holder's expiring link to one credential: anyone with it may view and verify that credential until it
    expires or the holder revokes it. Only a keyed hash of the link's token is stored. Creation, revocation and
    every use are recorded (uses in the verification log, channel ``share``)."""

    __tablename__ = "share_links"
    __table_args__ = (
        UniqueConstraint("token_hash", name="uq_share_links_token_hash"),
        Index("ix_share_links_credential", "credential_id", "created_at"),
    )

    credential_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("credentials.id"))
    #: HMAC-SHA256 of the token (hex)
    token_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_by: Mapped[str | None] = mapped_column(String(200))
    views: Mapped[int] = mapped_column(Integer, default=0)
    last_viewed_at: Mapped[datetime | None] = mapped_column()
