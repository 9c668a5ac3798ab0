"""Liên thông and công nhận: credit transfer between institutions and levels, and recognition of prior learning.

* an institution's **equivalence rules** (quy tắc quy đổi), as data: which prior result recognises which of its
  programme's modules — another module (by code, from any or one institution), a diploma or certificate (a verified
  credential of an occupation and level) or work experience assessed here (RPL) — with the minimum credits, minimum
  grade and maximum age of the result, and whether the recognised grade counts in the GPA;
* a learner's **recognition request** to the receiving institution, its **items** (one candidate per receiving
  module and prior result, with the rule's checks), each approved or refused with a reason;
* an **RPL assessment** (đánh giá kỹ năng nghề tích lũy): assessor and panel, evidence files in the object store,
  decision;
* the **recognised modules** of an enrolment, whatever granted them: what the transcript shows as "công nhận" and
  graduation counts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Entity
from services.records.models import Base


class EquivalenceRule(Entity, Base):
    __tablename__ = "equivalence_rules"
    __table_args__ = (UniqueConstraint("programme_id", "code", name="uq_equivalence_rule_code"),)

    institution_code: Mapped[str] = mapped_column(String(20), index=True)
    programme_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programmes.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(50))
    #: the receiving programme's module the rule recognises
    module_code: Mapped[str] = mapped_column(String(50))
    #: module | credential | experience
    source_kind: Mapped[str] = mapped_column(String(20))
    #: module: the prior module's code, and its institution (None: any)
    source_module_code: Mapped[str | None] = mapped_column(String(50))
    source_institution_code: Mapped[str | None] = mapped_column(String(20))
    #: credential: the diploma's occupation code and level (None: any)
    source_occupation_code: Mapped[str | None] = mapped_column(String(7))
    source_level: Mapped[str | None] = mapped_column(String(20))
    min_credits: Mapped[int] = mapped_column(Integer, default=0)
    #: on the source's scale: a module's score (0–10), a diploma's GPA (0–4), an assessment's score (0–10)
    min_grade: Mapped[str | None] = mapped_column(String(10))
    max_age_years: Mapped[int | None] = mapped_column(Integer)
    #: the recognised grade counts in the GPA (else the module counts toward graduation only)
    in_gpa: Mapped[bool] = mapped_column(Boolean, default=False)


class RecognitionRequest(Entity, Base):
    __tablename__ = "recognition_requests"
    __table_args__ = (UniqueConstraint("enrolment_id", name="uq_recognition_request_enrolment"),)

    institution_code: Mapped[str] = mapped_column(String(20), index=True)
    enrolment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("enrolments.id", ondelete="CASCADE"))
    person_id: Mapped[uuid.UUID] = mapped_column(index=True)
    #: submitted | decided (every item decided)
    status: Mapped[str] = mapped_column(String(20))


class RecognitionItem(Entity, Base):
    __tablename__ = "recognition_items"
    __table_args__ = (UniqueConstraint("request_id", "module_code", "source_key", name="uq_recognition_item"),)

    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("recognition_requests.id", ondelete="CASCADE"), index=True)
    module_code: Mapped[str] = mapped_column(String(50))
    rule_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("equivalence_rules.id", ondelete="SET NULL"))
    #: record (the platform's own) | credential (a verified credential the learner presented)
    source_kind: Mapped[str] = mapped_column(String(20))
    #: what makes the prior result one: "record:<enrolment id>:<module>", "credential:<credential id>"
    source_key: Mapped[str] = mapped_column(String(200))
    #: what the receiving institution sees of the prior result
    source: Mapped[dict[str, Any]] = mapped_column()
    #: the rule's conditions, each {"check", "passed", "detail"}
    checks: Mapped[list[Any]] = mapped_column()
    #: pending | approved | refused
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(1000))
    score: Mapped[str | None] = mapped_column(String(10))
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column()


class RplAssessment(Entity, Base):
    __tablename__ = "rpl_assessments"
    __table_args__ = (UniqueConstraint("enrolment_id", "module_code", name="uq_rpl_assessment"),)

    institution_code: Mapped[str] = mapped_column(String(20), index=True)
    enrolment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("enrolments.id", ondelete="CASCADE"))
    person_id: Mapped[uuid.UUID] = mapped_column(index=True)
    module_code: Mapped[str] = mapped_column(String(50))
    assessor: Mapped[str] = mapped_column(String(200))
    #: [{"name", "role", "organisation", "institution_code"}]: teachers and enterprises' experts
    panel: Mapped[list[Any]] = mapped_column()
    experience: Mapped[str] = mapped_column(String(4000))
    #: [{"name", "key", "content_type", "size", "sha256"}]: files in the object store
    evidence: Mapped[list[Any]] = mapped_column()
    #: None until decided; recognised | not_recognised
    decision: Mapped[str | None] = mapped_column(String(20))
    score: Mapped[str | None] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(String(1000))
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column()


class RecognisedModule(Base):
    """A module of an enrolment recognised (công nhận) rather than studied: counts toward graduation; its grade counts
    in the GPA when the rule said so."""

    __tablename__ = "recognised_modules"

    enrolment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("enrolments.id", ondelete="CASCADE"), primary_key=True)
    module_code: Mapped[str] = mapped_column(String(50), primary_key=True)
    #: record | credential | experience
    source_kind: Mapped[str] = mapped_column(String(20))
    #: one line for the transcript: where the result came from
    source_label: Mapped[str] = mapped_column(String(500))
    score: Mapped[str | None] = mapped_column(String(10))
    in_gpa: Mapped[bool] = mapped_column(Boolean)
    item_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("recognition_items.id", ondelete="SET NULL"))
    assessment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("rpl_assessments.id", ondelete="SET NULL"))
    decided_by: Mapped[str] = mapped_column(String(200))
    recognised_at: Mapped[datetime] = mapped_column()
