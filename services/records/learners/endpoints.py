"""Learners of an institution, their enrolments and status history; a citizen's own records."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select

from services.common.auth import CurrentPrincipal, Principal
from services.common.db import SessionDep
from services.common.errors import Forbidden, NotFound
from services.common.pagination import Page, PageDep, paginate
from services.common.privacy import mask_id_number as mask
from services.common.permissions import person_id_of
from services.records import access
from services.records.learners import service
from services.common.links import link
from services.records.models import Enrolment, EnrolmentStatusChange, Learner, LearnerKeyChange, Programme
from services.records.enrolments.schemas import StatusChangeIn, StatusChangeRead
from services.records.learners.schemas import EnrolmentRead, IdNumberCorrection, KeyChangeRead, LearnerRead
from services.records.sync.single import apply_one

router = APIRouter(tags=["learners"])


def may_see_number(principal: Principal, learner: Learner, province_code: str | None = None) -> bool:
    """The full personal ID of this learner (at an institution of ``province_code``)."""
    return access.may_see_numbers(principal, province_code, person_id=learner.person_id, institution_code=learner.institution_code)


async def learner_read(session: Any, principal: Principal, learner: Learner, province: str | None) -> LearnerRead:
    full = may_see_number(principal, learner, province)
    rows = (await session.execute(
        select(Enrolment, Programme).join(Programme, Enrolment.programme_id == Programme.id)
        .where(Enrolment.learner_id == learner.id).order_by(Programme.code)
    )).all()
    return LearnerRead(
        id=learner.id, institution_code=learner.institution_code, person_id=learner.person_id,
        id_number=learner.id_number if full else mask(learner.id_number), id_number_masked=not full,
        learner_code=learner.learner_code, full_name=learner.full_name, date_of_birth=learner.date_of_birth, sex=learner.sex,
        birth_place=learner.birth_place, ethnicity=learner.ethnicity, ethnic_minority=learner.ethnic_minority, disability=learner.disability,
        enrolments=[
            EnrolmentRead(
                id=e.id, programme_code=p.code, programme_name=p.name, cohort_id=e.cohort_id, mode=e.mode, status=e.status,
                enrolled_on=e.enrolled_on, graduated_on=e.graduated_on, gpa=str(e.gpa) if e.gpa is not None else None,
                classification=e.classification, transcript_url=link(f"/v1/enrolments/{e.id}/transcript"),
            )
            for e, p in rows
        ],
    )


@router.get("/v1/institutions/{code}/learners", response_model=Page[LearnerRead], summary="An institution's learners")
async def list_learners(code: str, request: Request, session: SessionDep, principal: CurrentPrincipal, page: PageDep) -> Page[Any]:
    inst = await access.institution(session, request, code)
    access.ensure_read(principal, inst)
    result = await paginate(session, select(Learner).where(Learner.institution_code == code), (Learner.created_at, Learner.id), page)
    result.items = [await learner_read(session, principal, x, inst.province_code) for x in result.items]
    return result


@router.get("/v1/learners/{learner_id}", response_model=LearnerRead, summary="A learner with enrolments (the learner, the school, officers)")
async def get_learner(learner_id: uuid.UUID, request: Request, session: SessionDep, principal: CurrentPrincipal) -> LearnerRead:
    learner = await session.get(Learner, learner_id)
    if learner is None:
        raise NotFound(f"No learner {learner_id}.")
    inst = await access.institution(session, request, learner.institution_code)
    if person_id_of(principal) != str(learner.person_id):
        access.ensure_read(principal, inst)
    return await learner_read(session, principal, learner, inst.province_code)


@router.get("/v1/me/records", response_model=list[LearnerRead], summary="The signed-in citizen's own records at every institution")
async def my_records(session: SessionDep, principal: CurrentPrincipal) -> list[LearnerRead]:
    pid = person_id_of(principal)
    if pid is None:
        raise Forbidden("Your account is not linked to a person.")
    rows = (await session.scalars(select(Learner).where(Learner.person_id == uuid.UUID(pid)).order_by(Learner.institution_code))).all()
    return [await learner_read(session, principal, x, None) for x in rows]


@router.post("/v1/enrolments/{enrolment_id}/status", response_model=LearnerRead, summary="Change an enrolment's status (history kept)")
async def change_status(enrolment_id: uuid.UUID, body: StatusChangeIn, request: Request, session: SessionDep, principal: CurrentPrincipal) -> LearnerRead:
    enrolment = await session.get(Enrolment, enrolment_id)
    if enrolment is None:
        raise NotFound(f"No enrolment {enrolment_id}.")
    access.ensure_write(principal, enrolment.institution_code)
    learner = await session.get(Learner, enrolment.learner_id)
    programme = await session.get(Programme, enrolment.programme_id)
    assert learner is not None and programme is not None
    await apply_one(session, request, principal, enrolment.institution_code, "enrolments", {
        "id_number": learner.id_number, "programme_code": programme.code, "mode": enrolment.mode, "status": body.status,
        "status_reason": body.reason,
    })
    return await learner_read(session, principal, learner, None)


@router.get("/v1/enrolments/{enrolment_id}/history", response_model=list[StatusChangeRead], summary="Status history of an enrolment")
async def status_history(enrolment_id: uuid.UUID, request: Request, session: SessionDep, principal: CurrentPrincipal) -> Any:
    enrolment = await session.get(Enrolment, enrolment_id)
    if enrolment is None:
        raise NotFound(f"No enrolment {enrolment_id}.")
    learner = await session.get(Learner, enrolment.learner_id)
    if learner is None or person_id_of(principal) != str(learner.person_id):
        access.ensure_read(principal, await access.institution(session, request, enrolment.institution_code))
    stmt = select(EnrolmentStatusChange).where(EnrolmentStatusChange.enrolment_id == enrolment_id).order_by(EnrolmentStatusChange.changed_at)
    return [StatusChangeRead.model_validate(r, from_attributes=True) for r in (await session.scalars(stmt)).all()]


def _key_change_read(principal: Principal, learner: Learner, province: str | None, kc: LearnerKeyChange) -> KeyChangeRead:
    full = may_see_number(principal, learner, province)
    return KeyChangeRead(
        old_id_number=kc.old_id_number if full else mask(kc.old_id_number),
        new_id_number=kc.new_id_number if full else mask(kc.new_id_number),
        reason=kc.reason, actor=kc.actor, changed_at=kc.changed_at,
    )


@router.post("/v1/learners/{learner_id}/id-number", response_model=LearnerRead,
             summary="Correct a learner's personal ID number (audited; the change feed reports the key change)")
async def correct_id_number(learner_id: uuid.UUID, body: IdNumberCorrection, request: Request, session: SessionDep,
                            principal: CurrentPrincipal) -> LearnerRead:
    learner = await session.get(Learner, learner_id)
    if learner is None:
        raise NotFound(f"No learner {learner_id}.")
    access.ensure_write(principal, learner.institution_code)
    inst = await access.institution(session, request, learner.institution_code)
    await service.correct_id_number(session, request, principal, learner, body.id_number, body.reason)
    return await learner_read(session, principal, learner, inst.province_code)


@router.get("/v1/learners/{learner_id}/id-number-changes", response_model=list[KeyChangeRead],
            summary="Corrections of a learner's personal ID number (numbers masked except for the person, officers and the school's own system)")
async def id_number_changes(learner_id: uuid.UUID, request: Request, session: SessionDep, principal: CurrentPrincipal) -> Any:
    learner = await session.get(Learner, learner_id)
    if learner is None:
        raise NotFound(f"No learner {learner_id}.")
    inst = await access.institution(session, request, learner.institution_code)
    if person_id_of(principal) != str(learner.person_id):
        access.ensure_read(principal, inst)
    rows = (await session.scalars(select(LearnerKeyChange).where(LearnerKeyChange.learner_id == learner_id)
                                  .order_by(LearnerKeyChange.changed_at, LearnerKeyChange.id))).all()
    return [_key_change_read(principal, learner, inst.province_code, kc) for kc in rows]
