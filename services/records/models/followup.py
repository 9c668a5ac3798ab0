"""Graduate follow-up (khảo sát việc làm sau tốt nghiệp): survey rounds per institution, graduation year and months
after graduation; one invitation per graduate (a one-time link, or through their account); their answers."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Entity
from services.records.models import Base


class SurveyRound(Entity, Base):
    __tablename__ = "followup_rounds"
    __table_args__ = (UniqueConstraint("institution_code", "graduation_year", "months_after", name="uq_followup_round"),)

    institution_code: Mapped[str] = mapped_column(String(20), index=True)
    graduation_year: Mapped[int] = mapped_column(Integer)
    #: 6 | 12
    months_after: Mapped[int] = mapped_column(Integer)
    opens_on: Mapped[date] = mapped_column(Date)
    closes_on: Mapped[date] = mapped_column(Date)
    #: [{"code", "text", "kind": "boolean" | "choice" | "text", "options": [...], "required": bool}]
    questions: Mapped[list[Any]] = mapped_column()


class SurveyInvitation(Base):
    """One graduate (an enrolment that graduated) invited to a round. Its link carries an HMAC of its id (nothing
    secret is stored); answered once."""

    __tablename__ = "followup_invitations"
    __table_args__ = (UniqueConstraint("round_id", "enrolment_id", name="uq_followup_invitation"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    round_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("followup_rounds.id", ondelete="CASCADE"), index=True)
    enrolment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("enrolments.id"))
    person_id: Mapped[uuid.UUID] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column()
    responded_at: Mapped[datetime | None] = mapped_column()


class SurveyResponse(Base):
    """The answers of one invitation, with the Ministry's standard employment indicators drawn out for the reports."""

    __tablename__ = "followup_responses"

    invitation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("followup_invitations.id", ondelete="CASCADE"), primary_key=True)
    round_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("followup_rounds.id", ondelete="CASCADE"), index=True)
    answers: Mapped[dict[str, Any]] = mapped_column()
    employed: Mapped[bool] = mapped_column(Boolean)
    in_trained_occupation: Mapped[bool | None] = mapped_column(Boolean)
    employer_type: Mapped[str | None] = mapped_column(String(30))
    income_band: Mapped[str | None] = mapped_column(String(30))
    further_study: Mapped[bool | None] = mapped_column(Boolean)
    #: link | account
    channel: Mapped[str] = mapped_column(String(10))
    submitted_at: Mapped[datetime] = mapped_column()
