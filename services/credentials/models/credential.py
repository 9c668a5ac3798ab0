from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Entity, utcnow
from services.credentials.models import Base


class Credential(Entity, Base):
    """An issued credential (diploma, certificate, course certificate). Never deleted: revoked, suspended or
    superseded by a corrected one instead. The natural key (institution, learner, achievement, year) plus the
    revision makes issuing idempotent; a correction is the next revision."""

    __tablename__ = "credentials"
    __table_args__ = (
        UniqueConstraint("institution_code", "learner_ref", "achievement_code", "award_year", "revision", name="uq_credentials_natural_key"),
        UniqueConstraint("institution_code", "register_year", "register_number", "revision", name="uq_credentials_register_number"),
        UniqueConstraint("revocation_list_id", "revocation_index", name="uq_credentials_revocation_entry"),
        UniqueConstraint("suspension_list_id", "suspension_index", name="uq_credentials_suspension_entry"),
        Index("ix_credentials_person", "person_id"),
        Index("ix_credentials_learner", "learner_id"),
        Index("ix_credentials_issuer", "issuer_id", "created_at"),
        Index("ix_credentials_document_format", "document_format"),
    )

    issuer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("issuers.id"))
    institution_code: Mapped[str] = mapped_column(String(20))
    #: diploma | certificate | course_certificate
    kind: Mapped[str] = mapped_column(String(30))
    #: elementary | intermediate | college | short_course | course
    level: Mapped[str] = mapped_column(String(30))
    #: ``person:<uuid>`` or ``learner:<id>``: who, in the natural key
    learner_ref: Mapped[str] = mapped_column(String(120))
    person_id: Mapped[uuid.UUID | None] = mapped_column()
    learner_id: Mapped[str | None] = mapped_column(String(100))
    #: programme code, or ``course:<id>`` for a course certificate
    achievement_code: Mapped[str] = mapped_column(String(120))
    award_year: Mapped[int] = mapped_column(Integer)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    holder_name: Mapped[str] = mapped_column(String(300))
    title: Mapped[str] = mapped_column(String(500))
    #: Số hiệu văn bằng: serial number
    serial_number: Mapped[str] = mapped_column(String(50))
    #: Số vào sổ cấp văn bằng: register number, unique per institution and year
    register_number: Mapped[str] = mapped_column(String(50))
    register_year: Mapped[int] = mapped_column(Integer)
    #: the signed credential as issued, or as signed again when its layout changed (``document_format``)
    document: Mapped[dict[str, Any]] = mapped_column()
    #: layout of ``document`` (``issuing.builder.DOCUMENT_FORMAT``); none: written before formats were recorded
    #: (a two-entry ``credentialStatus``), to be signed again by ``issuing/restatus.py``
    document_format: Mapped[int | None] = mapped_column(Integer)
    #: hash of the issuing input: a retry with other data is a conflict, not a silent no-op
    input_fingerprint: Mapped[str] = mapped_column(String(64))
    #: active | suspended | revoked
    status: Mapped[str] = mapped_column(String(20), default="active")
    status_reason: Mapped[str | None] = mapped_column(String(500))
    #: the revocation entry, named by the document's ``credentialStatus``
    revocation_list_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("status_lists.id"))
    revocation_index: Mapped[int] = mapped_column(Integer)
    #: the suspension entry: kept here (and in the published, signed suspension list), not named by the document;
    #: the platform's verifier answers "suspended" from it
    suspension_list_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("status_lists.id"))
    suspension_index: Mapped[int] = mapped_column(Integer)
    key_id: Mapped[str] = mapped_column(String(64))
    supersedes_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("credentials.id"))
    superseded_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("credentials.id"))
    source_event_id: Mapped[uuid.UUID | None] = mapped_column()
    job_id: Mapped[uuid.UUID | None] = mapped_column()
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)


class StatusChange(Base):
    """Audit of every status change of a credential (issue, revoke, suspend, unsuspend, supersede) and of its
    document signed again in a new layout (``resigned``). Append-only."""

    __tablename__ = "status_changes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    credential_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("credentials.id"), index=True)
    action: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str | None] = mapped_column(String(500))
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    request_id: Mapped[str | None] = mapped_column(String(128))
