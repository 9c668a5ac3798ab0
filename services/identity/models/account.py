from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Entity
from services.identity.models import Base


class Account(Entity, Base):
    """A person's account: staff (password, argon2id) or citizen (signed in through VNeID). Roles come from
    :class:`Membership` rows."""

    __tablename__ = "accounts"

    username: Mapped[str] = mapped_column(String(100), unique=True)
    full_name: Mapped[str] = mapped_column(String(300))
    password_hash: Mapped[str | None] = mapped_column(String(300))
    password_changed_at: Mapped[datetime | None] = mapped_column()
    #: the citizen this account belongs to (set on VNeID sign-in, or by an officer)
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("persons.id"), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Membership(Entity, Base):
    """A role held somewhere: ``at`` is an institution code, ``province:<code>`` or ``national``."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("account_id", "at", "role", name="uq_membership"),)

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    at: Mapped[str] = mapped_column(String(40), index=True)
    role: Mapped[str] = mapped_column(String(40))
    granted_by: Mapped[str] = mapped_column(String(200))
