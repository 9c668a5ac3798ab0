from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class InstitutionActivity(BaseModel):
    """What learning knows of one institution, for national oversight."""

    institution_code: str
    #: learning objects of the institution whose latest version is published in the shared library
    objects_published: int
    #: when the institution last published material (its latest published version)
    last_published_at: datetime | None
    #: distinct students of the institution who completed a soft-skills course (every course here is one)
    students_completed: int
    #: distinct teachers of the institution who completed a course of the digital-competence skill area
    teachers_digital_completed: int
    last_completed_at: datetime | None


class ActivityListing(BaseModel):
    items: list[InstitutionActivity]
