"""LTI 1.3 / LTI Advantage, tool side: the platforms (a school's Moodle or Open edX) registered to launch the
platform's courses and exams, the tool's own signing keys, OIDC login states, pseudonymous LTI users, launch sessions, resource
links with their AGS line items, and the scores waiting to be posted back."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Entity, utcnow
from services.learning.models import Base


class LtiPlatform(Entity, Base):
    """Nền tảng LTI: an LMS registered to launch the tool — its issuer, the client id it gave the tool, its
    deployments, where its keys are (a JWKS URL or inline keys), its OIDC authorisation endpoint and its OAuth2
    token endpoint (for Assignment and Grade Services). Registered by a school admin for the school
    (``institution_code``: launches reach the school's courses and national ones) or by a platform admin (none:
    national courses only)."""

    __tablename__ = "lti_platforms"
    __table_args__ = (UniqueConstraint("issuer", "client_id", name="uq_lti_platform_issuer_client"),)

    name: Mapped[str] = mapped_column(String(200))
    issuer: Mapped[str] = mapped_column(String(255), index=True)
    client_id: Mapped[str] = mapped_column(String(255))
    #: the ``deployment_id`` values a launch may carry (LTI 1.3 §5.3.3)
    deployment_ids: Mapped[list[Any]] = mapped_column()
    jwks_url: Mapped[str | None] = mapped_column(String(2000))
    #: inline public keys (a JWK Set) when the platform publishes no JWKS URL
    jwks: Mapped[dict[str, Any] | None] = mapped_column()
    #: the OIDC authorisation endpoint the login initiation redirects to
    auth_login_url: Mapped[str] = mapped_column(String(2000))
    #: the OAuth2 token endpoint for service access tokens (AGS); None: no score pass-back
    token_url: Mapped[str | None] = mapped_column(String(2000))
    #: the ``aud`` of the client assertion when the platform wants another than its token URL
    token_audience: Mapped[str | None] = mapped_column(String(2000))
    institution_code: Mapped[str | None] = mapped_column(String(20), index=True)
    #: the registry's facts of the institution when it was registered (report groupings of LTI enrolments)
    province_code: Mapped[str | None] = mapped_column(String(10))
    institution_type: Mapped[str | None] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(200))


class LtiToolKey(Entity, Base):
    """The tool's own RS256 signing key (deep-linking responses, client assertions). ``active`` signs; a
    ``retiring`` key stays in the tool's JWKS until ``retire_after``, then it is ``retired``."""

    __tablename__ = "lti_tool_keys"

    kid: Mapped[str] = mapped_column(String(64), unique=True)
    algorithm: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), index=True)
    #: private key PEM, encrypted (Fernet, key derived from the service's secret key)
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[dict[str, Any]] = mapped_column()
    retire_after: Mapped[datetime | None] = mapped_column()


class LtiLoginState(Base):
    """One OIDC third-party-initiated login (LTI 1.3 §4.1, IMS Security Framework §5.1.1): the ``state`` (keyed
    hash) and ``nonce`` sent to the platform, bound to the browser that started it (keyed hash of its cookie),
    short-lived and used at most once."""

    __tablename__ = "lti_login_states"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    nonce: Mapped[str] = mapped_column(String(100))
    browser_hash: Mapped[str] = mapped_column(String(64))
    platform_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lti_platforms.id", ondelete="CASCADE"), index=True)
    target_link_uri: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None] = mapped_column()


class LtiUser(Base):
    """Người học qua LTI: a platform's user as the tool knows them — pseudonymous, keyed by (platform, ``sub``).
    Only the name is kept, when the platform sends one (an enrolment and its certificate need a name); the email and
    other personal claims are not stored."""

    __tablename__ = "lti_users"
    __table_args__ = (UniqueConstraint("platform_id", "sub", name="uq_lti_user_platform_sub"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    platform_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lti_platforms.id", ondelete="CASCADE"))
    sub: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_launch_at: Mapped[datetime | None] = mapped_column()


class LtiResourceLink(Base):
    """A placement of a tool resource in the platform (LTI 1.3 §5.3.5): which resource of ours it launches (a kind
    and an id: a ``course`` or an ``exam``) and, with AGS, the line item its scores go to."""

    __tablename__ = "lti_resource_links"
    __table_args__ = (UniqueConstraint("platform_id", "deployment_id", "resource_link_id", name="uq_lti_resource_link"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    platform_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lti_platforms.id", ondelete="CASCADE"))
    deployment_id: Mapped[str] = mapped_column(String(255))
    resource_link_id: Mapped[str] = mapped_column(String(255))
    target_kind: Mapped[str] = mapped_column(String(20))
    target_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(String(300))
    #: AGS: the line item's URL (scores are posted to ``<lineitem>/scores``) and the scopes the platform granted
    lineitem_url: Mapped[str | None] = mapped_column(String(2000))
    ags_scopes: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class LtiSession(Base):
    """What one launch opened: a short-lived session (an opaque token, stored as a keyed hash) for the player — a
    learner in a course (``record`` names their enrolment), an instructor previewing it, or an instructor choosing
    content for deep linking (``deep_linking`` holds the request's return URL, data and deployment)."""

    __tablename__ = "lti_sessions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    platform_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lti_platforms.id", ondelete="CASCADE"))
    lti_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lti_users.id", ondelete="CASCADE"), index=True)
    #: learner | instructor
    role: Mapped[str] = mapped_column(String(20))
    #: LtiResourceLinkRequest | LtiDeepLinkingRequest
    message_type: Mapped[str] = mapped_column(String(40))
    target_kind: Mapped[str | None] = mapped_column(String(20))
    target_id: Mapped[str | None] = mapped_column(String(64))
    #: the learning-side record the learner works in: ``enrolment/<id>`` in a course, ``exam-candidate/<id>`` in an exam
    record: Mapped[str | None] = mapped_column(String(100))
    resource_link_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("lti_resource_links.id", ondelete="CASCADE"))
    deep_linking: Mapped[dict[str, Any] | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class LtiGradeLink(Base):
    """A learner's work reported to a platform's line item: which LTI user, through which resource link, and the
    learning-side record graded (``enrolment/<id>``, ``exam-candidate/<id>``). One per (resource link, user)."""

    __tablename__ = "lti_grade_links"
    __table_args__ = (UniqueConstraint("resource_link_id", "lti_user_id", name="uq_lti_grade_link"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    resource_link_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lti_resource_links.id", ondelete="CASCADE"))
    lti_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lti_users.id", ondelete="CASCADE"))
    record: Mapped[str] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LtiScore(Base):
    """An AGS score to post (Assignment and Grade Services 2.0 §3.4), written in the transaction that graded the
    work, sent by the score sender with retries: ``pending`` → ``sent``; ``failed`` only when the platform refuses
    it (a 4xx), kept for a re-drive. One per (grade link, source): a repeat of the same grading adds nothing."""

    __tablename__ = "lti_scores"
    __table_args__ = (
        UniqueConstraint("grade_link_id", "source", name="uq_lti_score_source"),
        Index("ix_lti_scores_due", "status", "next_attempt_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    grade_link_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lti_grade_links.id", ondelete="CASCADE"))
    platform_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lti_platforms.id", ondelete="CASCADE"), index=True)
    #: what graded it, e.g. ``completion/<id>``
    source: Mapped[str] = mapped_column(String(100))
    lineitem_url: Mapped[str] = mapped_column(String(2000))
    #: the score document as posted (``application/vnd.ims.lis.v1.score+json``)
    score: Mapped[dict[str, Any]] = mapped_column()
    #: pending | sent | failed
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
