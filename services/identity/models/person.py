from __future__ import annotations

from datetime import date

from sqlalchemy import Date, String
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Entity
from services.identity.models import Base


class Person(Entity, Base):
    """A citizen, keyed by the 12-digit personal identification number (số định danh cá nhân). One row per
    number. The number is never logged and leaves the service masked except to the person and to officers."""

    __tablename__ = "persons"

    id_number: Mapped[str] = mapped_column(String(12), unique=True)
    full_name: Mapped[str] = mapped_column(String(300))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    #: male | female
    gender: Mapped[str | None] = mapped_column(String(10))
    birth_place: Mapped[str | None] = mapped_column(String(300))
