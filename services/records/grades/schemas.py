"""Grades (điểm học phần) of a learner's module in a term: the rows a school sends (the same whether synced or
entered one at a time) and what the API answers."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field

from services.records.fields import IdNumber, Row


class GradeRow(Row):
    id_number: IdNumber
    programme_code: str
    module_code: str
    term_code: str
    #: component scores 0–10, named as the module's weights are (default ``continuous`` and ``final``)
    components: dict[str, Any] = Field(min_length=1)
    reason: str | None = Field(default=None, max_length=500)


class GradeEntry(GradeRow):
    """A grade to enter: the learner by personal ID number (a school), or by ``person_id`` (a platform service such as
    learning's gradebooks, which never holds ID numbers: the learner of this institution linked to that person)."""

    id_number: IdNumber | None = None  # type: ignore[assignment]  # optional here: a person may name the learner instead
    person_id: uuid.UUID | None = None


class GradeDelete(Row):
    id_number: IdNumber
    programme_code: str
    module_code: str
    term_code: str


class GradeRead(BaseModel):
    id: uuid.UUID
    institution_code: str
    enrolment_id: uuid.UUID
    programme_code: str
    module_code: str
    term_code: str
    components: dict[str, str]
    score: str
    letter: str
    points: str
    passed: bool
    version: int


class GradeUpdate(BaseModel):
    components: dict[str, Any] = Field(min_length=1)
    reason: str = Field(min_length=1, max_length=500, description="why the grade changes (kept in the audit trail)")

