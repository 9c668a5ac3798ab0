from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Entity
from services.identity.models import Base


class Institution(Entity, Base):
    """Cơ sở giáo dục nghề nghiệp: a VET institution in the national registry (the digital map).

    The full registry (ownership, coordinates, status history, merges) comes with the identity issue; the spine
    keeps what demo data and roles need."""

    __tablename__ = "institutions"

    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(500))
    #: college | intermediate | vet_centre | other
    type: Mapped[str] = mapped_column(String(30))
    ownership: Mapped[str] = mapped_column(String(30), default="public")
    province_code: Mapped[str] = mapped_column(String(3))
