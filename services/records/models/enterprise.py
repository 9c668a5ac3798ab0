"""Enterprises as participants (doanh nghiệp tham gia đào tạo): an institution invites an enterprise (an institution
of type ``enterprise`` in identity's registry) to review a programme's learning outcomes, to sit on an RPL
assessment panel, or to answer the employer feedback form about its graduates of a year. The enterprise answers by a
signed link (no account) or, as a machine client or staff at the enterprise, with its own token."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Entity
from services.records.models import Base


class EnterpriseInvitation(Entity, Base):
    __tablename__ = "enterprise_invitations"
    __table_args__ = (UniqueConstraint("institution_code", "enterprise_code", "purpose", "subject", name="uq_enterprise_invitation"),)

    institution_code: Mapped[str] = mapped_column(String(20), index=True)
    enterprise_code: Mapped[str] = mapped_column(String(20), index=True)
    #: programme_review | assessment_panel | employer_feedback
    purpose: Mapped[str] = mapped_column(String(30))
    #: what it is about, as text: the programme's code, the assessment's id, the graduation year
    subject: Mapped[str] = mapped_column(String(100))
    programme_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("programmes.id", ondelete="CASCADE"))
    assessment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("rpl_assessments.id", ondelete="CASCADE"))
    graduation_year: Mapped[int | None] = mapped_column(Integer)
    #: employer feedback: the form's questions (standard ones first)
    questions: Mapped[list[Any]] = mapped_column()
    message: Mapped[str | None] = mapped_column(String(2000))
    closes_on: Mapped[date | None] = mapped_column(Date)
    responded_at: Mapped[datetime | None] = mapped_column()
    #: the answer as given: feedback answers, the panel member who accepted, nothing for comments (their own rows)
    response: Mapped[dict[str, Any] | None] = mapped_column()
    #: link | client
    channel: Mapped[str | None] = mapped_column(String(10))


class OutcomeComment(Entity, Base):
    """An enterprise's comment on one learning outcome of a programme it was invited to review."""

    __tablename__ = "outcome_comments"
    __table_args__ = (UniqueConstraint("invitation_id", "outcome_code", name="uq_outcome_comment"),)

    invitation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("enterprise_invitations.id", ondelete="CASCADE"), index=True)
    programme_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programmes.id", ondelete="CASCADE"), index=True)
    outcome_code: Mapped[str] = mapped_column(String(50))
    comment: Mapped[str] = mapped_column(String(4000))
