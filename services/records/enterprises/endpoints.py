"""Enterprises as participants over HTTP: invitations, the enterprise's answers (by signed link or its own token), the
comments on a programme's outcomes, the employer feedback report."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response

from services.common.auth import CurrentPrincipal
from services.common.db import SessionDep
from services.common.errors import NotFound
from services.records import access
from services.records.context import RecordsCtxDep
from services.records.enterprises import service
from services.records.enterprises.dependencies import LinksDep, NowDep
from services.records.enterprises.schemas import AnswerIn, CommentRead, FeedbackReport, InvitationForm, InvitationIn, InvitationRead

router = APIRouter(tags=["enterprises"])
InstitutionCode = Annotated[str, Path(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9._\-]+$")]
Token = Annotated[str, Path(min_length=40, max_length=80, pattern=r"^[0-9a-f\-]{36}\.[A-Za-z0-9_\-]+$")]


@router.put("/v1/institutions/{code}/enterprise-invitations", response_model=InvitationRead,
            summary="Invite an enterprise to review a programme's outcomes, sit on an assessment panel or give employer feedback "
                    "(put by institution, enterprise, purpose and subject)")
async def put_invitation(code: InstitutionCode, body: InvitationIn, ctx: RecordsCtxDep, response: Response, session: SessionDep,
                         principal: CurrentPrincipal, links: LinksDep) -> InvitationRead:
    access.ensure_write(principal, code)
    inst = await access.institution(session, ctx, code)
    enterprise = await access.institution(session, ctx, body.enterprise_code)
    inv, created = await service.put_invitation(session, inst, enterprise, body)
    response.status_code = 201 if created else 200
    return service.invitation_read(inv, links.secret, links.base)


@router.get("/v1/institutions/{code}/enterprise-invitations", response_model=list[InvitationRead],
            summary="The enterprises an institution invited, with their links and whether they answered")
async def institution_invitations(code: InstitutionCode, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal,
                                  links: LinksDep) -> list[InvitationRead]:
    access.ensure_write(principal, code)  # the links are the enterprises' keys: for those who send them
    await access.institution(session, ctx, code)
    return [service.invitation_read(i, links.secret, links.base) for i in await service.institution_invitations(session, code)]


@router.get("/v1/enterprises/{code}/invitations", response_model=list[InvitationRead],
            summary="An enterprise's invitations (its staff or its system)")
async def enterprise_invitations(code: InstitutionCode, session: SessionDep, principal: CurrentPrincipal,
                                 links: LinksDep) -> list[InvitationRead]:
    return [service.invitation_read(i, links.secret, links.base) for i in await service.enterprise_invitations(session, principal, code)]


@router.post("/v1/enterprises/{code}/invitations/{invitation_id}", response_model=InvitationForm,
             summary="The enterprise answers an invitation with its own token")
async def answer_as_enterprise(code: InstitutionCode, invitation_id: uuid.UUID, body: AnswerIn, session: SessionDep,
                               principal: CurrentPrincipal, now: NowDep) -> InvitationForm:
    inv = await service.invitation_of(session, invitation_id)
    if inv.enterprise_code != code or not service.may_act_for(principal, code):
        raise NotFound("No such invitation.")
    return await service.answer(session, inv, body, "client", now)


@router.get("/v1/enterprise-invitations/{token}", response_model=InvitationForm, summary="An invitation by its signed link (no account)")
async def form_by_link(token: Token, session: SessionDep, links: LinksDep) -> InvitationForm:
    return await service.form(session, await service.invitation_of(session, service.invitation_of_token(links.secret, token)))


@router.post("/v1/enterprise-invitations/{token}", response_model=InvitationForm,
             summary="Answer an invitation by its signed link: comments on outcomes, a panel member, or the feedback form (once)")
async def answer_by_link(token: Token, body: AnswerIn, session: SessionDep, links: LinksDep, now: NowDep) -> InvitationForm:
    inv = await service.invitation_of(session, service.invitation_of_token(links.secret, token))
    return await service.answer(session, inv, body, "link", now)


@router.get("/v1/institutions/{code}/programmes/{programme_code}/outcome-comments", response_model=list[CommentRead],
            summary="Enterprises' comments on a programme's learning outcomes")
async def outcome_comments(code: InstitutionCode, programme_code: str, ctx: RecordsCtxDep, session: SessionDep,
                           principal: CurrentPrincipal) -> list[CommentRead]:
    access.ensure_read(principal, await access.institution(session, ctx, code))
    return await service.comments(session, code, programme_code)


@router.get("/v1/employer-feedback-report", response_model=FeedbackReport,
            summary="Employer feedback on a year's graduates per institution or province: response rate, skills match, would hire again "
                    "(JSON or CSV)", responses={200: {"content": {"application/json": {}, "text/csv": {}}}})
async def feedback_report(ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal,
                          graduation_year: Annotated[int, Query(ge=2000, le=2100)],
                          by: Literal["institution", "province"] = "institution",
                          institution: Annotated[str | None, Query(max_length=20, pattern=r"^[A-Za-z0-9._\-]+$")] = None,
                          province: Annotated[str | None, Query(pattern=r"^\d{3}$")] = None,
                          format: Literal["json", "csv"] = "json") -> Any:
    inst = await access.institution(session, ctx, institution) if institution else None
    doc = await service.feedback_report(session, principal, graduation_year, by, inst, province)
    if format == "csv":
        return Response(service.feedback_csv(doc), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="y-kien-doanh-nghiep-{graduation_year}.csv"'})
    return doc
