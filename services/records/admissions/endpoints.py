"""Admissions over HTTP: cohort pushes from secondary schools, a person's own admissions and consents, intakes,
applications and their steps, the streaming and intake reports. HTTP only; the rules are in ``service``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response

from services.common.auth import CurrentPrincipal, Principal, require_scopes
from services.common.db import ReadSessionDep, SessionDep
from services.common.errors import NotFound
from services.common.permissions import person_id_of
from services.records import access
from services.records.admissions import repository, service
from services.records.admissions.schemas import (
    ApplicationIn,
    ApplicationRead,
    CohortPush,
    CohortResult,
    ConsentIn,
    DecisionIn,
    EnrolIn,
    GraduateRead,
    IntakeIn,
    IntakeRead,
    IntakeReport,
    MyAdmissions,
    ShareRead,
    StreamingReport,
)
from services.records.context import RecordsCtxDep
from services.records.learners import service as learners
from services.records.learners.dependencies import PersonResolverDep

router = APIRouter(tags=["admissions"])
Sharer = Annotated[Principal, Depends(require_scopes("admissions:share"))]
InstitutionCode = Annotated[str, Path(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9._\-]+$")]
IntakeCode = Annotated[str, Path(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9._\-]+$")]
Action = Literal["review", "offer", "reject", "accept", "decline", "withdraw", "enrol"]
STATE_OF_ACTION = {"review": "reviewed", "offer": "offered", "reject": "rejected", "accept": "accepted", "decline": "declined",
                   "withdraw": "withdrawn", "enrol": "enrolled"}


@router.post("/v1/admissions/cohorts", response_model=CohortResult,
             summary="A secondary school or education department pushes a graduating cohort (admissions:share); upserts by "
                     "ID number, school and year; bad rows named by row and field (mode=all refuses the push, partial keeps the rest)")
async def push_cohort(body: CohortPush, session: SessionDep, principal: Sharer, resolver: PersonResolverDep,
                      mode: Literal["all", "partial"] = "all") -> Any:
    return await service.push_cohort(session, principal, resolver, body, partial=mode == "partial")


@router.get("/v1/admissions/me", response_model=MyAdmissions,
            summary="The signed-in person: the graduate data schools shared, which institutions received it, their applications")
async def my_admissions(session: SessionDep, principal: CurrentPrincipal) -> Any:
    return await service.my_admissions(session, principal)


@router.post("/v1/admissions/me/consents", response_model=ShareRead, status_code=201,
             summary="The signed-in person lets an institution see their graduate data for counselling")
async def grant_consent(body: ConsentIn, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal) -> Any:
    service.person_of(principal)
    inst = await access.institution(session, ctx, body.institution_code)
    return await service.grant_counselling(session, principal, inst, ctx.now())


@router.delete("/v1/admissions/me/consents/{institution_code}", response_model=list[ShareRead],
               summary="The signed-in person withdraws an institution's access to their graduate data (at once)")
async def withdraw_consent(institution_code: InstitutionCode, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal) -> Any:
    return await service.withdraw_consent(session, principal, institution_code, ctx.now())


@router.put("/v1/institutions/{code}/intakes/{intake_code}", response_model=IntakeRead,
            summary="An institution opens or changes a programme intake: capacity, dates, criteria")
async def put_intake(code: InstitutionCode, intake_code: IntakeCode, body: IntakeIn, ctx: RecordsCtxDep, response: Response,
                     session: SessionDep, principal: CurrentPrincipal) -> Any:
    access.ensure_write(principal, code)
    inst = await access.institution(session, ctx, code)
    found, created = await service.put_intake(session, principal, inst, intake_code, body)
    response.status_code = 201 if created else 200
    return service.intake_read(found)


@router.get("/v1/intakes", response_model=list[IntakeRead], summary="Programme intakes (public)")
async def list_intakes(session: ReadSessionDep,
                       institution: Annotated[str | None, Query(max_length=20)] = None,
                       year: Annotated[int | None, Query(ge=2000, le=2100)] = None) -> Any:
    return [service.intake_read(i) for i in await repository.intakes(session, institution, year)]


@router.get("/v1/intakes/{intake_id}", response_model=IntakeRead, summary="A programme intake (public)")
async def get_intake(intake_id: uuid.UUID, session: SessionDep) -> Any:
    return service.intake_read(await service.intake(session, intake_id))


@router.post("/v1/intakes/{intake_id}/applications", response_model=ApplicationRead, status_code=201,
             summary="The signed-in person applies to an intake (their shared graduate data, or their particulars)")
async def apply(intake_id: uuid.UUID, body: ApplicationIn, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal,
                resolver: PersonResolverDep) -> Any:
    # checked on a short read, the particulars (if needed) resolved in identity with no transaction open, then
    # checked again and written in the request's write transaction: no call to another service inside it
    async with ctx.db.session(write=False) as peek:
        needed = await service.particulars_needed(peek, principal, intake_id, body, ctx.now())
    resolved = await service.resolve_particulars(resolver, body) if needed else None
    app = await service.apply(session, ctx.outbox, principal, intake_id, body, resolved, ctx.now())
    (read,) = await service.application_reads(session, [app], graduates=False)
    return read


@router.get("/v1/institutions/{code}/applications", response_model=list[ApplicationRead],
            summary="Applications to an institution (its staff, its province's and national officers); graduate data only "
                    "while the applicant's consent stands")
async def institution_applications(code: InstitutionCode, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal,
                                   status: Annotated[str | None, Query(max_length=20)] = None,
                                   limit: Annotated[int, Query(ge=1, le=500)] = 100,
                                   offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> Any:
    inst = await access.institution(session, ctx, code)
    service.ensure_see_applications(principal, inst)
    apps = await repository.applications_to(session, code, status, limit, offset)
    return await service.application_reads(session, apps, graduates=True, principal=principal, inst=inst)


@router.get("/v1/institutions/{code}/counselling", response_model=list[GraduateRead],
            summary="Secondary graduates who agreed to this institution's counselling (consent not withdrawn)")
async def counselling(code: InstitutionCode, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal,
                      limit: Annotated[int, Query(ge=1, le=500)] = 100) -> Any:
    inst = await access.institution(session, ctx, code)
    service.ensure_see_applications(principal, inst)
    masked = not access.may_see_numbers(principal, inst.province_code, None, inst.code)
    return [service.graduate_read(g, masked=masked) for g in await repository.counselling_graduates(session, code, limit)]


@router.get("/v1/applications/{application_id}", response_model=ApplicationRead,
            summary="An application: to the applicant, or to those who see the institution's applications")
async def get_application(application_id: uuid.UUID, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal) -> Any:
    app = await service.application(session, application_id)
    if person_id_of(principal) == str(app.person_id):
        (read,) = await service.application_reads(session, [app], graduates=False)
        return read
    inst = await access.institution(session, ctx, app.institution_code)
    if not service.may_see_applications(principal, inst):
        raise NotFound("No such application.")
    (read,) = await service.application_reads(session, [app], graduates=True, principal=principal, inst=inst)
    return read


@router.post("/v1/applications/{application_id}/{action}", response_model=ApplicationRead,
             summary="A step of an application: review, offer, reject, enrol (the institution); accept, decline, withdraw (the applicant)")
async def application_step(application_id: uuid.UUID, action: Action, ctx: RecordsCtxDep, session: SessionDep,
                           principal: CurrentPrincipal, resolver: PersonResolverDep, body: dict[str, Any] | None = None) -> Any:
    to = STATE_OF_ACTION[action]
    _, by = service.TRANSITIONS[to]
    # read first on a short read session: the request's write transaction opens only once identity has been asked
    # (the institution's registry entry; the enrolled learner's person), no call to another service inside it
    async with ctx.db.session(write=False) as peek:
        seen = await service.application(peek, application_id)
        target = await service.intake(peek, seen.intake_id) if to == "enrolled" else None
    inst = await access.institution(session, ctx, seen.institution_code) if by == "institution" else None
    parsed = EnrolIn.model_validate(body or {}) if to == "enrolled" else DecisionIn.model_validate(body or {})
    if isinstance(parsed, EnrolIn) and target is not None:
        service.ensure_may_move(principal, seen, to, inst)  # who enrols, from which state: checked before identity is asked
        resolver = await learners.resolve_ahead(resolver, [service.enrolment_row(seen, target, parsed, ctx.now())])
    app = await service.application(session, application_id)

    async def write_learner(code: str, row: dict[str, Any]) -> None:
        await learners.put_learner(session, resolver, code, row, actor=access.actor_of(principal))

    moved = await service.move(session, ctx.outbox, principal, app, to, parsed, inst, write_learner=write_learner,
                               now=ctx.now())
    graduates = by == "institution"
    (read,) = await service.application_reads(session, [moved], graduates=graduates, principal=principal, inst=inst)
    return read


@router.get("/v1/admissions/reports/streaming", response_model=StreamingReport,
            summary="Streaming per district: of a year's secondary graduates, how many applied to and enrolled in VET, against 55%")
async def streaming_report(session: SessionDep, principal: CurrentPrincipal,
                           year: Annotated[int, Query(ge=2000, le=2100)],
                           province: Annotated[str | None, Query(pattern=r"^\d{3}$")] = None) -> Any:
    return await service.streaming_report(session, principal, year, province)


@router.get("/v1/admissions/reports/intake", response_model=IntakeReport,
            summary="Intake against capacity per institution and intake")
async def intake_report(ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal,
                        year: Annotated[int, Query(ge=2000, le=2100)],
                        institution: Annotated[str | None, Query(max_length=20, pattern=r"^[A-Za-z0-9._\-]+$")] = None) -> Any:
    inst = await access.institution(session, ctx, institution) if institution else None
    return await service.intake_report(session, principal, year, inst)
