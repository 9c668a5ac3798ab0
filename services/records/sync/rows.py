"""The record types a sync carries, by the name a JSON batch or a CSV ``entity`` gives them, and the order a JSON
batch applies them in. The row schemas are the domains' own (the API's single-row writes take the same ones)."""

from __future__ import annotations

from services.records.enrolments.schemas import EnrolmentRow
from services.records.fields import Row
from services.records.grades.schemas import GradeRow
from services.records.learners.schemas import LearnerRow
from services.records.programmes.schemas import CohortRow, ModuleRow, ProgrammeRow, TermRow

ENTITIES: dict[str, type[Row]] = {
    "programmes": ProgrammeRow,
    "modules": ModuleRow,
    "terms": TermRow,
    "cohorts": CohortRow,
    "learners": LearnerRow,
    "enrolments": EnrolmentRow,
    "grades": GradeRow,
}
#: the order in which a JSON batch is applied, so a batch can define what its later rows refer to
ORDER = ["programmes", "modules", "terms", "cohorts", "learners", "enrolments", "grades"]
