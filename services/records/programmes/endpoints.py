"""Programmes with modules, terms and cohorts of an institution; a cohort's graduation decision."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response

from services.common.auth import CurrentPrincipal
from services.common.db import SessionDep
from services.records import access
from services.records.context import RecordsCtxDep
from services.records.programmes import graduation, service
from services.records.programmes.schemas import (
    CohortRead,
    CohortRow,
    GraduationIn,
    GraduationResult,
    ProgrammeRead,
    ProgrammeRow,
    TermRead,
    TermRow,
)

router = APIRouter(tags=["programmes"])


@router.put("/v1/institutions/{code}/programmes/{programme_code}", response_model=ProgrammeRead,
            summary="Create or update a programme with its modules (upsert by code)")
async def put_programme(code: str, programme_code: str, body: ProgrammeRow, ctx: RecordsCtxDep, session: SessionDep,
                        principal: CurrentPrincipal, response: Response) -> ProgrammeRead:
    access.ensure_write(principal, code)
    await access.institution(session, ctx, code)
    result, programme = await service.put_programme(session, code, programme_code, body.model_dump(mode="json"), actor=access.actor_of(principal))
    if result == "created":
        response.status_code = 201
    return await service.programme_read(session, programme)


@router.get("/v1/institutions/{code}/programmes", response_model=list[ProgrammeRead], summary="An institution's programmes")
async def list_programmes(code: str, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal) -> list[ProgrammeRead]:
    access.ensure_read(principal, await access.institution(session, ctx, code))
    return await service.list_programmes(session, code)


@router.get("/v1/institutions/{code}/programmes/{programme_code}", response_model=ProgrammeRead, summary="One programme with its modules")
async def get_programme(code: str, programme_code: str, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal) -> ProgrammeRead:
    access.ensure_read(principal, await access.institution(session, ctx, code))
    return await service.get_programme(session, code, programme_code)


@router.put("/v1/institutions/{code}/terms/{term_code}", response_model=TermRead, summary="Create or update a term")
async def put_term(code: str, term_code: str, body: TermRow, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal) -> Any:
    access.ensure_write(principal, code)
    await access.institution(session, ctx, code)
    return await service.put_term(session, code, term_code, body.model_dump(mode="json"), actor=access.actor_of(principal))


@router.get("/v1/institutions/{code}/terms", response_model=list[TermRead], summary="An institution's terms")
async def list_terms(code: str, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal) -> Any:
    access.ensure_read(principal, await access.institution(session, ctx, code))
    return await service.list_terms(session, code)


@router.put("/v1/institutions/{code}/cohorts/{cohort_code}", response_model=CohortRead, summary="Create or update a cohort (class)")
async def put_cohort(code: str, cohort_code: str, body: CohortRow, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal) -> Any:
    access.ensure_write(principal, code)
    await access.institution(session, ctx, code)
    return await service.put_cohort(session, code, cohort_code, body.model_dump(mode="json"), actor=access.actor_of(principal))


@router.get("/v1/institutions/{code}/cohorts", response_model=list[CohortRead], summary="An institution's cohorts")
async def list_cohorts(code: str, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal) -> Any:
    access.ensure_read(principal, await access.institution(session, ctx, code))
    return await service.list_cohorts(session, code)


@router.post("/v1/cohorts/{cohort_id}/graduation", response_model=GraduationResult,
             summary="Record a cohort's graduation decision: eligible learners graduate, each an event for diplomas")
async def graduate_cohort(cohort_id: uuid.UUID, body: GraduationIn, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal) -> GraduationResult:
    # read on a short read session first: identity (the registry entry) is asked before the write transaction opens
    async with ctx.db.session(write=False) as peek:
        seen = await service.get_cohort(peek, cohort_id)
    access.ensure_write(principal, seen.institution_code)
    inst = await access.institution(session, ctx, seen.institution_code)
    cohort = await service.get_cohort(session, cohort_id)
    return await graduation.graduate(session, ctx.outbox, inst, cohort, body, actor=access.actor_of(principal))
