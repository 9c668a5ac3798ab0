"""Learning outcomes of programmes and modules over HTTP, and the digital-competence statistic."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from services.common.auth import CurrentPrincipal
from services.common.db import SessionDep
from services.records import access
from services.records.context import RecordsCtxDep
from services.records.outcomes import service
from services.records.outcomes.schemas import DigitalShareReport, OutcomesIn, ProgrammeOutcomes

router = APIRouter(tags=["learning outcomes"])
InstitutionCode = Annotated[str, Path(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9._\-]+$")]
ProgrammeCode = Annotated[str, Path(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9._\-/]+$")]


@router.put("/v1/institutions/{code}/programmes/{programme_code}/outcomes", response_model=ProgrammeOutcomes,
            summary="Replace a programme's learning outcomes (code, text, VQF level, digital competence, module)")
async def put_outcomes(code: InstitutionCode, programme_code: ProgrammeCode, body: OutcomesIn, ctx: RecordsCtxDep,
                       session: SessionDep, principal: CurrentPrincipal) -> ProgrammeOutcomes:
    access.ensure_write(principal, code)
    await access.institution(session, ctx, code)
    programme = await service.programme_of(session, code, programme_code)
    doc, _changed = await service.put_outcomes(session, programme, body)
    return doc


@router.get("/v1/institutions/{code}/programmes/{programme_code}/outcomes", response_model=ProgrammeOutcomes,
            summary="A programme's learning outcomes")
async def get_outcomes(code: InstitutionCode, programme_code: ProgrammeCode, ctx: RecordsCtxDep, session: SessionDep,
                       principal: CurrentPrincipal) -> ProgrammeOutcomes:
    access.ensure_read(principal, await access.institution(session, ctx, code))
    return await service.outcomes_read(session, await service.programme_of(session, code, programme_code))


@router.get("/v1/outcomes/digital-competence", response_model=DigitalShareReport,
            summary="Share of programmes whose learning outcomes integrate digital competence, per institution or province, "
                    "against the targets (Decision 2222: 70% by 2025, 100% by 2030)")
async def digital_competence(ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal,
                             by: Literal["institution", "province"] = "institution",
                             institution: Annotated[str | None, Query(max_length=20, pattern=r"^[A-Za-z0-9._\-]+$")] = None,
                             province: Annotated[str | None, Query(pattern=r"^\d{3}$")] = None) -> DigitalShareReport:
    inst = await access.institution(session, ctx, institution) if institution else None
    return await service.digital_share(session, principal, by, inst, province)
