"""National oversight in records: the registry's and learning's facts pulled here, credentials counted from their
events, targets and officer-entered indicator values (with their audit), yearly snapshots of computed indicators."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Float, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Entity, utcnow
from services.records.models import Base


class OversightInstitution(Base):
    """One institution as identity's registry had it at the last pull (``/v1/oversight/institutions``), with
    learning's activity at its last pull (``/v1/institution-activity``)."""

    __tablename__ = "oversight_institutions"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(500))
    #: college | intermediate | vet_centre | other
    type: Mapped[str] = mapped_column(String(30))
    ownership: Mapped[str] = mapped_column(String(30))
    province_code: Mapped[str] = mapped_column(String(3), index=True)
    #: active | merged | closed
    status: Mapped[str] = mapped_column(String(20))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    machine_clients_active: Mapped[int] = mapped_column(Integer, default=0)
    teachers: Mapped[int | None] = mapped_column(Integer)
    managers: Mapped[int | None] = mapped_column(Integer)
    staff_year: Mapped[int | None] = mapped_column(Integer)
    registry_pulled_at: Mapped[datetime] = mapped_column(default=utcnow)
    objects_published: Mapped[int] = mapped_column(Integer, default=0)
    last_published_at: Mapped[datetime | None] = mapped_column()
    students_completed: Mapped[int] = mapped_column(Integer, default=0)
    teachers_digital_completed: Mapped[int] = mapped_column(Integer, default=0)
    activity_pulled_at: Mapped[datetime | None] = mapped_column()


class OversightPull(Base):
    """How fresh each pulled source is: the last success, the last failure and why."""

    __tablename__ = "oversight_pulls"

    #: identity | learning
    source: Mapped[str] = mapped_column(String(20), primary_key=True)
    last_success_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(String(1000))
    last_error_at: Mapped[datetime | None] = mapped_column()


class OversightCredential(Base):
    """A credential as its ``vn.vet.credentials.credential.*`` events told records (no personal data: the
    institution, kind, level, award year, status)."""

    __tablename__ = "oversight_credentials"
    __table_args__ = (Index("ix_oversight_credentials_institution", "institution_code", "kind"),)

    credential_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    institution_code: Mapped[str | None] = mapped_column(String(20))
    #: diploma | certificate | …, as credentials names it
    kind: Mapped[str] = mapped_column(String(30))
    level: Mapped[str | None] = mapped_column(String(30))
    award_year: Mapped[int | None] = mapped_column(Integer)
    #: active | revoked | suspended
    status: Mapped[str] = mapped_column(String(20))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OversightTarget(Entity, Base):
    """A target of a decision or plan: indicator, scope (national, or a province), optionally an institution type,
    year, value. Shares are fractions (0.5 = 50%), counts are counts. Edited by the ministry, audited."""

    __tablename__ = "oversight_targets"
    __table_args__ = (UniqueConstraint("source_decision", "indicator", "province_code", "institution_type", "year",
                                       name="uq_oversight_target"),)

    source_decision: Mapped[str] = mapped_column(String(100))
    indicator: Mapped[str] = mapped_column(String(60), index=True)
    #: "" for a national target, else the province code the plan names
    province_code: Mapped[str] = mapped_column(String(3), default="")
    #: "" for every type, else college | intermediate | vet_centre
    institution_type: Mapped[str] = mapped_column(String(30), default="")
    year: Mapped[int] = mapped_column(Integer)
    value: Mapped[float] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(String(1000))
    created_by: Mapped[str] = mapped_column(String(200))
    updated_by: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, default=1)


class IndicatorValue(Entity, Base):
    """A value an officer entered for an indicator the platform cannot compute (who and when are kept)."""

    __tablename__ = "oversight_indicator_values"
    __table_args__ = (UniqueConstraint("indicator", "province_code", "year", name="uq_oversight_indicator_value"),)

    indicator: Mapped[str] = mapped_column(String(60))
    #: "" national, else a province code
    province_code: Mapped[str] = mapped_column(String(3), default="")
    year: Mapped[int] = mapped_column(Integer)
    value: Mapped[float] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(String(1000))
    entered_by: Mapped[str] = mapped_column(String(200))
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)


class IndicatorSnapshot(Base):
    """The latest value of the year of an indicator computed from the current state (connection share, coverage …),
    kept at each pull so the trend of past years stays."""

    __tablename__ = "oversight_indicator_snapshots"

    indicator: Mapped[str] = mapped_column(String(60), primary_key=True)
    province_code: Mapped[str] = mapped_column(String(3), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class OversightAudit(Base):
    """Every change of a target or an entered value: who, when, before and after."""

    __tablename__ = "oversight_audit"
    __table_args__ = (Index("ix_oversight_audit_entity", "entity", "entity_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    #: target | indicator_value
    entity: Mapped[str] = mapped_column(String(30))
    entity_id: Mapped[uuid.UUID] = mapped_column()
    #: created | updated | deleted
    action: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    before: Mapped[dict[str, Any] | None] = mapped_column()
    after: Mapped[dict[str, Any] | None] = mapped_column()
