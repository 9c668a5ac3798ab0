from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Entity
from services.credentials.models import Base


class Issuer(Entity, Base):
    """An institution as the issuer of its credentials: one per institution of identity's registry, identified by
    a did:web DID whose document this service serves."""

    __tablename__ = "issuers"

    institution_code: Mapped[str] = mapped_column(String(20), unique=True)
    did: Mapped[str] = mapped_column(String(300), unique=True)
    #: the institution's name as the registry gave it when the issuer was set up or last refreshed
    name: Mapped[str] = mapped_column(String(500))
    province_code: Mapped[str | None] = mapped_column(String(3))
    institution_type: Mapped[str | None] = mapped_column(String(30))
    #: the registry's status of the institution (active | merged | closed), refreshed when it is read
    institution_status: Mapped[str] = mapped_column(String(20), default="active")
    closed_on: Mapped[str | None] = mapped_column(String(10))


class IssuerKey(Entity, Base):
    """An Ed25519 key of an issuer. ``active`` signs new credentials; ``retired`` keys stay in the DID document
    (verification only) so that what they signed keeps verifying."""

    __tablename__ = "issuer_keys"
    __table_args__ = (UniqueConstraint("issuer_id", "key_id", name="uq_issuer_keys_issuer_key"),)

    issuer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("issuers.id"), index=True)
    #: the fragment of the verification method id (``did:web:…#<key_id>``)
    key_id: Mapped[str] = mapped_column(String(64))
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    #: the raw private key sealed by the key protector named in ``key_ref``
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary)
    key_ref: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="active")
    retired_at: Mapped[datetime | None] = mapped_column()


class RegisterCounter(Base):
    """Next number of the register of issued diplomas (sổ cấp văn bằng) of an institution for a year, used when the
    school does not give its own register number."""

    __tablename__ = "register_counters"

    institution_code: Mapped[str] = mapped_column(String(20), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_value: Mapped[int] = mapped_column(Integer, default=1)
