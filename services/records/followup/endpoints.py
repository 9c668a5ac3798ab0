"""Graduate follow-up over HTTP: survey rounds, their one-time links, answering by link or account, the report."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response

from services.common.auth import CurrentPrincipal
from services.common.db import SessionDep
from services.common.errors import Forbidden
from services.common.permissions import person_id_of
from services.records import access
from services.records.context import RecordsContext, RecordsCtxDep
from services.records.followup import service
from services.records.followup.schemas import AnswersIn, FollowupReport, InvitationRead, RoundIn, RoundRead, SurveyForm

router = APIRouter(tags=["graduate follow-up"])
InstitutionCode = Annotated[str, Path(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9._\-]+$")]
Token = Annotated[str, Path(min_length=40, max_length=80, pattern=r"^[0-9a-f\-]{36}\.[A-Za-z0-9_\-]+$")]


def _base(ctx: RecordsContext) -> str:
    base: str = ctx.settings.public_service_url
    return base


@router.put("/v1/institutions/{code}/followup-rounds/{graduation_year}/{months_after}", response_model=RoundRead,
            summary="Open or change a follow-up round (6 or 12 months after graduation) and invite the year's graduates")
async def put_round(code: InstitutionCode, graduation_year: Annotated[int, Path(ge=2000, le=2100)], months_after: int, body: RoundIn,
                    ctx: RecordsCtxDep, response: Response, session: SessionDep, principal: CurrentPrincipal) -> Any:
    access.ensure_write(principal, code)
    inst = await access.institution(session, ctx, code)
    survey, created = await service.put_round(session, principal, inst, graduation_year, months_after, body, ctx.now())
    response.status_code = 201 if created else 200
    return await service.round_read(session, survey)


@router.get("/v1/followup-rounds/{round_id}/invitations", response_model=list[InvitationRead],
            summary="The round's invitations with their one-time links, for the institution to send")
async def invitations(round_id: uuid.UUID, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 200, offset: Annotated[int, Query(ge=0)] = 0) -> Any:
    survey = await service.survey_round(session, round_id)
    access.ensure_write(principal, survey.institution_code)
    return await service.invitation_reads(session, survey, ctx.settings.secret_key, _base(ctx), limit, offset)


@router.get("/v1/followup/me", response_model=list[SurveyForm], summary="The signed-in graduate's follow-up surveys")
async def my_surveys(session: SessionDep, principal: CurrentPrincipal) -> Any:
    if person_id_of(principal) is None:
        raise Forbidden("This is for a signed-in person.")
    return await service.my_forms(session, principal)


@router.post("/v1/followup/me/{invitation_id}", response_model=SurveyForm, summary="The signed-in graduate answers a survey")
async def answer_mine(invitation_id: uuid.UUID, body: AnswersIn, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal) -> Any:
    if person_id_of(principal) is None:
        raise Forbidden("This is for a signed-in person.")
    return await service.answer(session, invitation_id, body, "account", ctx.now(), principal)


@router.get("/v1/followup/{token}", response_model=SurveyForm, summary="A survey by its one-time link (no account)")
async def form_by_link(token: Token, ctx: RecordsCtxDep, session: SessionDep) -> Any:
    return await service.form_by_link(session, ctx.settings.secret_key, token)


@router.post("/v1/followup/{token}", response_model=SurveyForm, summary="Answer a survey by its one-time link (once)")
async def answer_by_link(token: Token, body: AnswersIn, ctx: RecordsCtxDep, session: SessionDep) -> Any:
    invitation_id = service.invitation_of_token(ctx.settings.secret_key, token)
    return await service.answer(session, invitation_id, body, "link", ctx.now())


@router.get("/v1/followup-report", response_model=FollowupReport,
            summary="Response and employment rates by institution, occupation, level, province, sex (JSON or CSV)",
            responses={200: {"content": {"application/json": {}, "text/csv": {}}}})
async def followup_report(ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal,
                          graduation_year: Annotated[int, Query(ge=2000, le=2100)],
                          months_after: Annotated[int, Query(ge=6, le=12)] = 12,
                          by: Annotated[str, Query(max_length=100)] = "institution",
                          institution: Annotated[str | None, Query(max_length=20, pattern=r"^[A-Za-z0-9._\-]+$")] = None,
                          province: Annotated[str | None, Query(pattern=r"^\d{3}$")] = None,
                          format: Literal["json", "csv"] = "json") -> Any:
    inst = await access.institution(session, ctx, institution) if institution else None
    doc = await service.report(session, principal, graduation_year, months_after, service.parse_by(by), inst, province)
    if format == "csv":
        return Response(service.report_csv(doc), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="viec-lam-{graduation_year}-{months_after}.csv"'})
    return doc
