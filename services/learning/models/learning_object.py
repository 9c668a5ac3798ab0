from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Entity, utcnow
from services.learning.models import Base


class LearningObject(Entity, Base):
    """Học liệu số: one item of the shared library. Its metadata and files live in versions; the columns here are
    the *listing* (what search and lists show): the published version's when one is published, else the latest's."""

    __tablename__ = "learning_objects"
    __table_args__ = (
        Index("ix_learning_objects_listing", "published_version", "visibility"),
        # the search's orders (see services.learning.search.repository): newest, most used
        Index("ix_learning_objects_newest", text("coalesce(published_at, created_at)"), "id"),
        Index("ix_learning_objects_most_used", text("(view_count + download_count)"), text("coalesce(published_at, created_at)"), "id"),
    )

    institution_code: Mapped[str] = mapped_column(String(20), index=True)
    owner_sub: Mapped[str] = mapped_column(String(200))
    latest_version: Mapped[int] = mapped_column(Integer, default=1)
    #: the version readers beyond the author's institution see; None: not published (or withdrawn)
    published_version: Mapped[int | None] = mapped_column(Integer)
    #: status of the latest version: draft | submitted | published | rejected | withdrawn
    status: Mapped[str] = mapped_column(String(20), default="draft")
    title: Mapped[str] = mapped_column(String(300))
    type: Mapped[str] = mapped_column(String(20), index=True)
    language: Mapped[str] = mapped_column(String(10), index=True)
    licence: Mapped[str] = mapped_column(String(30), index=True)
    visibility: Mapped[str] = mapped_column(String(20))
    #: title, description, keywords, subjects, authors folded (no diacritics, lower case): the full-text index input
    search_text: Mapped[str] = mapped_column(Text, default="")
    published_at: Mapped[datetime | None] = mapped_column()
    view_count: Mapped[int] = mapped_column(Integer, default=0)
    download_count: Mapped[int] = mapped_column(Integer, default=0)


class LearningObjectTag(Base):
    """Listing facets that hold several values (training levels, occupation codes, audiences)."""

    __tablename__ = "learning_object_tags"
    __table_args__ = (Index("ix_learning_object_tags_kind_value", "kind", "value"),)

    object_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learning_objects.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[str] = mapped_column(String(50), primary_key=True)


class LearningObjectVersion(Base):
    """One version: a metadata snapshot and (optionally) a file. Versions are never changed or deleted, except
    their review status."""

    __tablename__ = "learning_object_versions"
    __table_args__ = (UniqueConstraint("object_id", "number", name="uq_learning_object_version"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    object_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learning_objects.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    #: draft | submitted | published | rejected | withdrawn | superseded
    status: Mapped[str] = mapped_column(String(20), default="draft")
    meta: Mapped[dict[str, Any]] = mapped_column()
    blob_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("blobs.id"))
    filename: Mapped[str | None] = mapped_column(String(255))
    change_note: Mapped[str | None] = mapped_column(String(1000))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: set once the version has been published; it stays readable by those who may see the object
    published_at: Mapped[datetime | None] = mapped_column()
