from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Entity
from services.identity.models import Base


class ApiClient(Entity, Base):
    """A machine client (a school's SIS, an employer's verifier, another platform service) using OAuth2 client
    credentials. Its secret is stored as a keyed SHA-256, never in clear."""

    __tablename__ = "api_clients"

    client_id: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    secret_hash: Mapped[str] = mapped_column(String(64))
    #: space-separated scopes this client may ask for
    scopes: Mapped[str] = mapped_column(String(2000), default="")
    #: institution the client acts for (a school's system), if any
    institution_code: Mapped[str | None] = mapped_column(String(20))
    roles: Mapped[list[Any]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
