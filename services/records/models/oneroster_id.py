from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import utcnow
from services.records.models import Base


class OneRosterId(Base):
    """A OneRoster ``sourcedId`` a school's zip carried, and what it names in records, so that a later zip (a delta
    above all, which carries only what changed) may refer to it without sending its file again.

    Per institution (a school's sourcedIds never resolve another's) and per file (``kind``: users,
    academicSessions, courses, classes, lineItems, results, enrollments). ``natural_key`` is canonical JSON
    (sorted keys): ``{"id_number"}`` for a user; ``{"term_code"}`` for an academic session; ``{"programme_code",
    "module_code"}`` for a course; that and ``term_code`` for a class; that and ``component`` for a line item;
    ``{"user", "lineItem"}`` (sourcedIds) for a result; ``{"user", "class"}`` for an enrollment. Written in the
    transaction of the rows the sourcedId's row gave (:mod:`services.records.sync.apply`)."""

    __tablename__ = "oneroster_ids"

    institution_code: Mapped[str] = mapped_column(String(20), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    sourced_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    natural_key: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


#: canonical JSON of a natural key (sorted keys, compact): equal keys are equal text, so a write can tell whether a
#: key changed, and a learner's key can be found by its text
natural_key_json = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode
