from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Entity
from services.identity.models import Base


class SigningKey(Entity, Base):
    """A token signing key. ``active`` signs new tokens; ``retiring`` keys stay in the JWKS until every token
    they signed has expired (``retire_after``); then they are ``retired``."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), unique=True)
    algorithm: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), index=True)
    #: private key PEM, encrypted (Fernet)
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[dict[str, Any]] = mapped_column()
    retire_after: Mapped[datetime | None] = mapped_column()
