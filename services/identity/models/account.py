from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Entity
from services.identity.models import Base


class Account(Entity, Base):
    """A person's account (teacher, student, officer). Password sign-in and VNeID come with the identity issue;
    the spine stores the argon2id hash and the roles per institution that tokens carry."""

    __tablename__ = "accounts"

    username: Mapped[str] = mapped_column(String(100), unique=True)
    full_name: Mapped[str] = mapped_column(String(300))
    password_hash: Mapped[str | None] = mapped_column(String(300))
    #: ``[{"institution": "CD0101", "role": "teacher"}, …]``
    roles: Mapped[list[Any]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
