"""Programmes with modules, terms and cohorts of an institution; a cohort's graduation decision."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from services.common.auth import CurrentPrincipal
from services.common.db import SessionDep
from services.common.errors import NotFound
from services.records import access
from services.records.models import Cohort, Module, Occupation, Programme, Term
from services.records.programmes import graduation
from services.records.programmes.schemas import (
    CohortRead,
    CohortRow,
    GraduationIn,
    GraduationResult,
    ModuleRead,
    ProgrammeRead,
    ProgrammeRow,
    TermRead,
    TermRow,
)
from services.records.sync.single import apply_one

router = APIRouter(tags=["programmes"])


async def programme_read(session: Any, p: Programme) -> ProgrammeRead:
    modules = (await session.scalars(select(Module).where(Module.programme_id == p.id).order_by(Module.code))).all()
    out = ProgrammeRead.model_validate(p)
    out.modules = [ModuleRead.model_validate(m) for m in modules]
    out.credits = sum(m.credits for m in modules if not m.is_condition)
    if p.occupation_code:
        occ = await session.get(Occupation, p.occupation_code)
        out.occupation_name = occ.name if occ else None
    return out


@router.put("/v1/institutions/{code}/programmes/{programme_code}", response_model=ProgrammeRead,
            summary="Create or update a programme with its modules (upsert by code)")
async def put_programme(code: str, programme_code: str, body: ProgrammeRow, request: Request, session: SessionDep,
                        principal: CurrentPrincipal, response: Response) -> ProgrammeRead:
    access.ensure_write(principal, code)
    await access.institution(session, request, code)
    result, applier = await apply_one(session, request, principal, code, "programmes", body.model_dump(mode="json") | {"code": programme_code})
    if result == "created":
        response.status_code = 201
    return await programme_read(session, applier.programmes[programme_code])


@router.get("/v1/institutions/{code}/programmes", response_model=list[ProgrammeRead], summary="An institution's programmes")
async def list_programmes(code: str, request: Request, session: SessionDep, principal: CurrentPrincipal) -> list[ProgrammeRead]:
    access.ensure_read(principal, await access.institution(session, request, code))
    rows = (await session.scalars(select(Programme).where(Programme.institution_code == code).order_by(Programme.code))).all()
    return [await programme_read(session, p) for p in rows]


@router.get("/v1/institutions/{code}/programmes/{programme_code}", response_model=ProgrammeRead, summary="One programme with its modules")
async def get_programme(code: str, programme_code: str, request: Request, session: SessionDep, principal: CurrentPrincipal) -> ProgrammeRead:
    access.ensure_read(principal, await access.institution(session, request, code))
    p = await session.scalar(select(Programme).where(Programme.institution_code == code, Programme.code == programme_code))
    if p is None:
        raise NotFound(f"No programme {programme_code} at {code}.")
    return await programme_read(session, p)


@router.put("/v1/institutions/{code}/terms/{term_code}", response_model=TermRead, summary="Create or update a term")
async def put_term(code: str, term_code: str, body: TermRow, request: Request, session: SessionDep, principal: CurrentPrincipal) -> Any:
    access.ensure_write(principal, code)
    await access.institution(session, request, code)
    _, applier = await apply_one(session, request, principal, code, "terms", body.model_dump(mode="json") | {"code": term_code})
    return applier.terms[term_code]


@router.get("/v1/institutions/{code}/terms", response_model=list[TermRead], summary="An institution's terms")
async def list_terms(code: str, request: Request, session: SessionDep, principal: CurrentPrincipal) -> Any:
    access.ensure_read(principal, await access.institution(session, request, code))
    return (await session.scalars(select(Term).where(Term.institution_code == code).order_by(Term.code))).all()


@router.put("/v1/institutions/{code}/cohorts/{cohort_code}", response_model=CohortRead, summary="Create or update a cohort (class)")
async def put_cohort(code: str, cohort_code: str, body: CohortRow, request: Request, session: SessionDep, principal: CurrentPrincipal) -> Any:
    access.ensure_write(principal, code)
    await access.institution(session, request, code)
    _, applier = await apply_one(session, request, principal, code, "cohorts", body.model_dump(mode="json") | {"code": cohort_code})
    return applier.cohorts[cohort_code]


@router.get("/v1/institutions/{code}/cohorts", response_model=list[CohortRead], summary="An institution's cohorts")
async def list_cohorts(code: str, request: Request, session: SessionDep, principal: CurrentPrincipal) -> Any:
    access.ensure_read(principal, await access.institution(session, request, code))
    return (await session.scalars(select(Cohort).where(Cohort.institution_code == code).order_by(Cohort.code))).all()


@router.post("/v1/cohorts/{cohort_id}/graduation", response_model=GraduationResult,
             summary="Record a cohort's graduation decision: eligible learners graduate, each an event for diplomas")
async def graduate_cohort(cohort_id: uuid.UUID, body: GraduationIn, request: Request, session: SessionDep, principal: CurrentPrincipal) -> GraduationResult:
    cohort = await session.get(Cohort, cohort_id)
    if cohort is None:
        raise NotFound(f"No cohort {cohort_id}.")
    access.ensure_write(principal, cohort.institution_code)
    inst = await access.institution(session, request, cohort.institution_code)
    return await graduation.graduate(session, request, principal, inst, cohort, body)
