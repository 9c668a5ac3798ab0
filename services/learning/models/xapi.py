from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import utcnow
from services.learning.models import Base


class XapiStatement(Base):
    """An xAPI 1.0.3 statement as stored by the LRS, with its filter keys pulled out into columns."""

    __tablename__ = "xapi_statements"
    __table_args__ = (
        Index("ix_xapi_statements_stored", "stored", "id"),
        Index("ix_xapi_statements_actor", "actor_key", "stored"),
        Index("ix_xapi_statements_activity", "activity_id", "stored"),
        Index("ix_xapi_statements_registration", "registration", "stored"),
        Index("ix_xapi_statements_verb", "verb_id", "stored"),
        Index("ix_xapi_statements_enrolment", "enrolment_id", "activity_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    stored: Mapped[datetime] = mapped_column()
    timestamp: Mapped[datetime] = mapped_column()
    actor_key: Mapped[str] = mapped_column(String(500))
    verb_id: Mapped[str] = mapped_column(String(500))
    activity_id: Mapped[str | None] = mapped_column(String(1000))
    registration: Mapped[uuid.UUID | None] = mapped_column()
    voided: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the statement this one voids, for voiding statements
    voids: Mapped[uuid.UUID | None] = mapped_column()
    #: the course enrolment whose lesson progress this statement fed (None: it fed none), so voiding it can undo that
    enrolment_id: Mapped[uuid.UUID | None] = mapped_column()
    authority_sub: Mapped[str] = mapped_column(String(200))
    statement: Mapped[dict[str, Any]] = mapped_column()
    #: sha-256 of the canonical statement as sent (to tell an identical repeat from a conflicting one)
    fingerprint: Mapped[str] = mapped_column(String(64))


class XapiLaunch(Base):
    """Credentials handed to content at launch (HTTP Basic for the xAPI endpoint), bound to one enrolment and lesson
    and short-lived. Only keyed hashes of secrets are stored.

    A cmi5 launch also has a one-time fetch secret (``fetch_hash``): the first POST to its fetch URL hands the
    assignable unit a second Basic secret of the same launch (``token_hash``) and marks it fetched. The launch id is
    the cmi5 session id."""

    __tablename__ = "xapi_launches"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    enrolment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("course_enrolments.id", ondelete="CASCADE"), index=True)
    lesson_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    #: cmi5 only: keyed hash of the fetch URL's one-time secret
    fetch_hash: Mapped[str | None] = mapped_column(String(64))
    #: cmi5 only: when the fetch URL handed out its token (it answers with an error afterwards)
    fetched_at: Mapped[datetime | None] = mapped_column()
    #: cmi5 only: keyed hash of the Basic secret the fetch URL handed out
    token_hash: Mapped[str | None] = mapped_column(String(64))


class XapiState(Base):
    """An xAPI 1.0.3 State Resource document: one per (activity, agent, registration or none, stateId). The bytes
    are kept as sent with their content type; ``etag`` is the quoted SHA-256 of the bytes."""

    __tablename__ = "xapi_states"
    __table_args__ = (
        UniqueConstraint("scope_hash", "state_id", name="uq_xapi_states_document"),
        Index("ix_xapi_states_scope_updated", "scope_hash", "updated_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    #: SHA-256 of activity id, agent key and registration: the documents listed together (keys can be long IRIs)
    scope_hash: Mapped[str] = mapped_column(String(64))
    activity_id: Mapped[str] = mapped_column(String(1000))
    agent_key: Mapped[str] = mapped_column(String(500))
    registration: Mapped[uuid.UUID | None] = mapped_column()
    state_id: Mapped[str] = mapped_column(String(500))
    content_type: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    etag: Mapped[str] = mapped_column(String(70))
    updated_at: Mapped[datetime] = mapped_column()
