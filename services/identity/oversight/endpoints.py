"""Staff counts of an institution (reported by the school) and the registry as national oversight reads it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from services.common.auth import CurrentPrincipal
from services.common.db import ReadSessionDep, SessionDep
from services.identity.oversight import service
from services.identity.oversight.schemas import OversightInstitutions, StaffCountIn, StaffCountRead

router = APIRouter(tags=["institutions"])
Year = Annotated[int, Path(ge=2000, le=2100)]


@router.put("/v1/institutions/{code}/staff-counts/{year}", response_model=StaffCountRead,
            summary="Report an institution's teachers and managers of a year (the school, or officers; audited)")
async def report_staff(code: str, year: Year, body: StaffCountIn, session: SessionDep, principal: CurrentPrincipal) -> Any:
    return StaffCountRead.model_validate(await service.report_staff(session, principal, code, year, body))


@router.get("/v1/institutions/{code}/staff-counts", response_model=list[StaffCountRead],
            summary="An institution's reported staff counts, newest year first (public)")
async def staff_history(code: str, session: SessionDep) -> Any:
    return [StaffCountRead.model_validate(r) for r in await service.staff_history(session, code)]


@router.get("/v1/oversight/institutions", response_model=OversightInstitutions,
            summary="Every institution with its active syncing machine clients and latest staff counts "
                    "(identity:oversight, national officers; province officers: their provinces)")
async def oversight_institutions(session: ReadSessionDep, principal: CurrentPrincipal) -> Any:
    """Read on the read replica when ``IDENTITY_DATABASE_READ_URL`` is set: a whole-registry scan that records
    pulls every few minutes."""
    return OversightInstitutions(items=await service.listing(session, principal))
