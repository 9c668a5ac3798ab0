"""Learners of an institution, their enrolments and status history; a citizen's own records."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from services.common.auth import CurrentPrincipal, Principal
from services.common.db import SessionDep
from services.common.errors import Forbidden
from services.common.pagination import Page, PageDep
from services.common.permissions import person_id_of
from services.records import access
from services.records.context import RecordsCtxDep
from services.records.enrolments import service as enrolments
from services.records.enrolments.schemas import StatusChangeIn, StatusChangeRead
from services.records.learners import service
from services.records.learners.dependencies import PersonResolverDep
from services.records.learners.schemas import IdNumberCorrection, KeyChangeRead, LearnerRead
from services.records.models import Learner

router = APIRouter(tags=["learners"])


async def _read(session: Any, principal: Principal, learner: Learner, province: str | None) -> LearnerRead:
    return await service.learner_read(session, learner, full_number=access.may_see_learner_number(principal, learner, province))


@router.get("/v1/institutions/{code}/learners", response_model=Page[LearnerRead], summary="An institution's learners")
async def list_learners(code: str, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal, page: PageDep) -> Page[Any]:
    inst = await access.institution(session, ctx, code)
    access.ensure_read(principal, inst)
    result: Page[Any] = await service.learners_page(session, code, page)
    result.items = [await _read(session, principal, x, inst.province_code) for x in result.items]
    return result


@router.get("/v1/learners/{learner_id}", response_model=LearnerRead, summary="A learner with enrolments (the learner, the school, officers)")
async def get_learner(learner_id: uuid.UUID, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal) -> LearnerRead:
    learner = await service.get_learner(session, learner_id)
    inst = await access.institution(session, ctx, learner.institution_code)
    if person_id_of(principal) != str(learner.person_id):
        access.ensure_read(principal, inst)
    return await _read(session, principal, learner, inst.province_code)


@router.get("/v1/me/records", response_model=list[LearnerRead], summary="The signed-in citizen's own records at every institution")
async def my_records(session: SessionDep, principal: CurrentPrincipal) -> list[LearnerRead]:
    pid = person_id_of(principal)
    if pid is None:
        raise Forbidden("Your account is not linked to a person.")
    return [await _read(session, principal, x, None) for x in await service.records_of_person(session, uuid.UUID(pid))]


@router.post("/v1/enrolments/{enrolment_id}/status", response_model=LearnerRead, summary="Change an enrolment's status (history kept)")
async def change_status(enrolment_id: uuid.UUID, body: StatusChangeIn, session: SessionDep, principal: CurrentPrincipal) -> LearnerRead:
    enrolment = await enrolments.get_enrolment(session, enrolment_id)
    access.ensure_write(principal, enrolment.institution_code)
    learner = await enrolments.change_status(session, enrolment, body.status, body.reason, actor=access.actor_of(principal))
    return await _read(session, principal, learner, None)


@router.get("/v1/enrolments/{enrolment_id}/history", response_model=list[StatusChangeRead], summary="Status history of an enrolment")
async def status_history(enrolment_id: uuid.UUID, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal) -> Any:
    enrolment = await enrolments.get_enrolment(session, enrolment_id)
    learner = await enrolments.learner_of(session, enrolment)
    if learner is None or person_id_of(principal) != str(learner.person_id):
        access.ensure_read(principal, await access.institution(session, ctx, enrolment.institution_code))
    return [StatusChangeRead.model_validate(r, from_attributes=True) for r in await enrolments.status_history(session, enrolment_id)]


@router.post("/v1/learners/{learner_id}/id-number", response_model=LearnerRead,
             summary="Correct a learner's personal ID number (audited; the change feed reports the key change)")
async def correct_id_number(learner_id: uuid.UUID, body: IdNumberCorrection, ctx: RecordsCtxDep, session: SessionDep,
                            principal: CurrentPrincipal, resolver: PersonResolverDep) -> LearnerRead:
    # checked on a short read, identity asked with no transaction open, then written (and checked again) in the
    # request's write transaction: no call to another service while it holds its locks
    async with ctx.db.session(write=False) as peek:
        seen = await service.get_learner(peek, learner_id)
        access.ensure_write(principal, seen.institution_code)
        await service.check_new_number(peek, seen, body.id_number)
    correction = await service.resolve_new_number(resolver, seen, body.id_number)
    inst = await access.institution(session, ctx, seen.institution_code)
    learner = await service.correct_id_number(session, correction, body.reason, actor=access.actor_of(principal))
    return await _read(session, principal, learner, inst.province_code)


@router.get("/v1/learners/{learner_id}/id-number-changes", response_model=list[KeyChangeRead],
            summary="Corrections of a learner's personal ID number (numbers masked except for the person, officers and the school's own system)")
async def id_number_changes(learner_id: uuid.UUID, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal) -> Any:
    learner = await service.get_learner(session, learner_id)
    inst = await access.institution(session, ctx, learner.institution_code)
    if person_id_of(principal) != str(learner.person_id):
        access.ensure_read(principal, inst)
    return await service.key_changes(session, learner, full_numbers=access.may_see_learner_number(principal, learner, inst.province_code))
