"""Enrolments: a learner in a programme (and a cohort), with a status whose every change is kept (who, when, why,
from which sync). Graduation is decided for a cohort (:mod:`services.records.programmes.graduation`), never synced;
a graduated enrolment is closed."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import NotFound
from services.records.enrolments import repository
from services.records.enrolments.schemas import EnrolmentRow
from services.records.fields import validated
from services.records.models import Cohort, Enrolment, EnrolmentStatusChange, Learner, Programme
from services.records.workspace import service as workspace
from services.records.workspace.service import RowError, RowResult, Workspace


# -- the rules, for a sync's rows and the API alike ----------------------------------------------------------------
def check_enrolment(ws: Workspace, row: EnrolmentRow) -> tuple[Programme, Cohort | None]:
    """What an enrolment row names, checked before anything is written for it: (programme, cohort)."""
    programme = ws.programme(row.programme_code, "programme_code")
    cohort = None
    if row.cohort_code:
        cohort = ws.cohorts.get(row.cohort_code)
        if cohort is None:
            raise RowError("cohort_code", f"unknown cohort {row.cohort_code!r} at institution {ws.code}")
        if cohort.programme_id != programme.id:
            raise RowError("cohort_code", f"cohort {row.cohort_code} belongs to another programme")
    if row.status == "graduated":
        raise RowError("status", "graduation is decided for a cohort (POST /v1/cohorts/{id}/graduation), not synced")
    return programme, cohort


def upsert_enrolment(ws: Workspace, row: EnrolmentRow) -> RowResult:
    programme, cohort = check_enrolment(ws, row)
    learner = ws.learner(row.id_number)
    existing = ws.enrolments.get((learner.id, programme.id))
    key = {"institution_code": ws.code, "id_number": row.id_number, "programme_code": programme.code}
    if existing is None:
        existing = Enrolment(
            id=uuid.uuid4(), institution_code=ws.code, learner_id=learner.id, programme_id=programme.id,
            cohort_id=cohort.id if cohort else None, mode=row.mode, status=row.status, enrolled_on=row.enrolled_on, version=1,
        )
        ws.add(existing)
        ws.enrolments[(learner.id, programme.id)] = existing
        _history(ws, existing, None, row.status, row.status_reason)
        ws.changes.add(ws.code, "enrolment", "upsert", key)
        return "created"
    if existing.status == "graduated":
        if row.status != "enrolled" or row.mode != existing.mode:
            raise RowError("status", "the learner has graduated from this programme; the enrolment is closed")
        return "unchanged"
    values = {"cohort_id": cohort.id if cohort else existing.cohort_id, "mode": row.mode, "status": row.status,
              "enrolled_on": row.enrolled_on or existing.enrolled_on}
    if all(getattr(existing, k) == v for k, v in values.items()):
        return "unchanged"
    if existing.status != row.status:
        _history(ws, existing, existing.status, row.status, row.status_reason)
    for k, v in values.items():
        setattr(existing, k, v)
    existing.version += 1
    ws.changes.add(ws.code, "enrolment", "upsert", key)
    return "updated"


def _history(ws: Workspace, enrolment: Enrolment, old: str | None, new: str, reason: str | None) -> None:
    ws.add(EnrolmentStatusChange(
        id=uuid.uuid4(), enrolment_id=enrolment.id, previous_status=old, status=new, reason=reason,
        source=ws.history_source, actor=ws.actor,
    ))


# -- through the API ---------------------------------------------------------------------------------------------
async def get_enrolment(session: AsyncSession, enrolment_id: uuid.UUID) -> Enrolment:
    enrolment = await repository.enrolment(session, enrolment_id)
    if enrolment is None:
        raise NotFound(f"No enrolment {enrolment_id}.")
    return enrolment


async def learner_of(session: AsyncSession, enrolment: Enrolment) -> Learner | None:
    return await repository.learner(session, enrolment.learner_id)


async def change_status(session: AsyncSession, enrolment: Enrolment, status: str, reason: str, *, actor: str) -> Learner:
    """The enrolment's new status, kept in its history with the reason, as a sync's enrolment row would change it;
    returns the learner."""
    learner = await repository.learner(session, enrolment.learner_id)
    programme = await repository.programme(session, enrolment.programme_id)
    assert learner is not None and programme is not None
    data: dict[str, Any] = {"id_number": learner.id_number, "programme_code": programme.code, "mode": enrolment.mode,
                            "status": status, "status_reason": reason}
    row = validated(EnrolmentRow, data)
    ws = await workspace.open_workspace(session, enrolment.institution_code, actor=actor)
    await workspace.prefetch(ws, [row])
    with workspace.rejecting():
        upsert_enrolment(ws, row)
    await workspace.finish(ws)
    return learner


async def status_history(session: AsyncSession, enrolment_id: uuid.UUID) -> list[EnrolmentStatusChange]:
    return await repository.status_history(session, enrolment_id)
