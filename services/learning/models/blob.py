from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import utcnow
from services.learning.models import Base


class Blob(Base):
    """Bytes in the object store, stored once per SHA-256 whoever uploads them (dedupe)."""

    __tablename__ = "blobs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    object_key: Mapped[str] = mapped_column(String(500))
    size: Mapped[int] = mapped_column(BigInteger)
    #: detected from the bytes, never taken from the client
    content_type: Mapped[str] = mapped_column(String(200))
    #: clean | not_scanned | partial (larger than the scanner's limit: only the beginning was scanned)
    scan_status: Mapped[str] = mapped_column(String(20), default="not_scanned")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Package(Base):
    """A SCORM 1.2 / 2004 or cmi5 package read from a blob; its files are unpacked under ``content_prefix``."""

    __tablename__ = "packages"

    blob_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("blobs.id", ondelete="CASCADE"), primary_key=True)
    #: scorm12 | scorm2004 | cmi5
    kind: Mapped[str] = mapped_column(String(20))
    #: organisations, items, launch file (SCORM) or course, blocks, AUs (cmi5)
    manifest: Mapped[dict[str, Any]] = mapped_column()
    launch_path: Mapped[str] = mapped_column(String(1000))
    content_prefix: Mapped[str] = mapped_column(String(200))
    file_count: Mapped[int] = mapped_column()
    expanded_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
