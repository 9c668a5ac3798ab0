"""The labour-market feed's recipients and how each sees personal ID numbers and names."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from services.records.models import Base


class LmisRecipient(Base):
    """A labour-market information system (a machine client with ``records:lmis``) and its masking rule. A client
    without a row gets the default: ID numbers masked, no names, every province."""

    __tablename__ = "lmis_recipients"

    client_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    #: full | masked | pseudonym (an HMAC of the number, stable for this recipient, unlinkable across recipients)
    id_numbers: Mapped[str] = mapped_column(String(20))
    names: Mapped[bool] = mapped_column(Boolean)
    #: province codes the recipient receives, or null for every province
    provinces: Mapped[list[Any] | None] = mapped_column()
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column()
