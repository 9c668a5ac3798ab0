"""Issuing and managing credentials: single issue, reads, the learner's own list, revoke / suspend / unsuspend,
correction (reissue)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from services.common.auth import CurrentPrincipal, current_principal
from services.common.db import SessionDep
from services.common.errors import Forbidden
from services.common.links import link
from services.common.pagination import MAX_LIMIT, Page, PageParams, cursor_after, next_cursor_of
from services.common.permissions import ensure_institution, person_id_of
from services.credentials.context import CtxDep, context_of
from services.credentials.diplomas import service as diplomas
from services.credentials.issuing import repository, service
from services.credentials.issuing.schemas import CredentialIssue, CredentialRead, CredentialSummary, PdfDownload, Reissue, StatusChangeIn

router = APIRouter(prefix="/v1/credentials", tags=["credentials"])


@router.post("", response_model=CredentialRead, status_code=201,
             summary="Issue one credential (idempotent on institution + learner + achievement + year)",
             responses={200: {"description": "already issued with the same data: the existing credential"}})
async def issue_credential(body: CredentialIssue, session: SessionDep, principal: CurrentPrincipal, ctx: CtxDep, response: Response) -> CredentialRead:
    row, created = await service.issue_one(session, ctx, principal, body)
    if not created:
        response.status_code = 200
    response.headers["Location"] = link(f"/v1/credentials/{row.id}")
    return await service.credential_read(session, ctx, row)


@router.get("", response_model=Page[CredentialSummary], summary="Credentials of an institution (its staff) or your own")
async def list_credentials(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")] = 50,
    cursor: Annotated[str | None, Query(description="opaque cursor from next_cursor")] = None,
    institution: Annotated[str | None, Query(max_length=20, description="institution code; omitted: your own credentials")] = None,
    status: Annotated[str | None, Query(pattern="^(active|suspended|revoked)$")] = None,
) -> Response:
    # a hot authenticated list: the caller and the context from the request and the page's parameters as plain
    # query parameters (no dependencies to resolve), one statement on a pooled driver connection, the page's rows
    # serialised straight to JSON (no model built per row, nor validated again against the response model)
    page = PageParams.model_construct(limit=limit, cursor=cursor)
    principal = await current_principal(request)
    who: str | uuid.UUID
    if institution:
        if not principal.has_scope("credentials:admin"):
            ensure_institution(principal, institution, roles={"school_system", "school_admin", "teacher"})
        whose, who = "institution", institution
    else:
        person = person_id_of(principal)
        if person:
            whose, who = "person", uuid.UUID(person)
        elif principal.sub.startswith("account:"):
            whose, who = "account", principal.sub
        else:
            raise Forbidden("Name an institution, or sign in to list your own credentials.")
    after = cursor_after(page, repository.SUMMARY_ORDER)
    rows = await repository.summaries(context_of(request).db, whose, who, status, after, page.limit + 1)
    rows, after_last = next_cursor_of(rows, repository.SUMMARY_ORDER, page.limit)
    return Response(service.summaries_json(rows, after_last), media_type="application/json")


@router.get("/{credential_id}", response_model=CredentialRead, summary="One credential with its signed document (holder, issuer staff)")
async def get_credential(credential_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, ctx: CtxDep) -> CredentialRead:
    row = await service.get_for(session, principal, credential_id)
    return await service.credential_read(session, ctx, row)


@router.get("/{credential_id}/document", summary="The signed credential alone, as a file (application/vc+ld+json)",
            responses={200: {"content": {"application/vc+ld+json": {}}}})
async def download_document(credential_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> Response:
    import json

    row = await service.get_for(session, principal, credential_id)
    return Response(
        json.dumps(row.document, ensure_ascii=False, indent=2),
        media_type="application/vc+ld+json",
        headers={"Content-Disposition": f'attachment; filename="credential-{row.id}.json"'},
    )


@router.get("/{credential_id}/pdf", response_model=PdfDownload,
            summary="The printable diploma (PDF with a QR code to its verification page): an expiring download URL")
async def diploma_pdf(credential_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, ctx: CtxDep) -> PdfDownload:
    row = await service.get_for(session, principal, credential_id)
    url = await diplomas.download_url(ctx, ctx.store, row)
    return PdfDownload(download_url=url, expires_in=ctx.settings.download_url_seconds, verify_url=ctx.verify_url(row.id))


@router.post("/{credential_id}/revoke", response_model=CredentialRead, summary="Revoke (final; idempotent)")
async def revoke_credential(credential_id: uuid.UUID, body: StatusChangeIn, session: SessionDep, principal: CurrentPrincipal, ctx: CtxDep) -> CredentialRead:
    row = await service.revoke(session, ctx, principal, credential_id, body.reason)
    return await service.credential_read(session, ctx, row, with_document=False)


@router.post("/{credential_id}/suspend", response_model=CredentialRead, summary="Suspend (reversible; idempotent)")
async def suspend_credential(credential_id: uuid.UUID, body: StatusChangeIn, session: SessionDep, principal: CurrentPrincipal, ctx: CtxDep) -> CredentialRead:
    row = await service.suspend(session, ctx, principal, credential_id, body.reason)
    return await service.credential_read(session, ctx, row, with_document=False)


@router.post("/{credential_id}/unsuspend", response_model=CredentialRead, summary="Lift a suspension (idempotent)")
async def unsuspend_credential(credential_id: uuid.UUID, body: StatusChangeIn, session: SessionDep, principal: CurrentPrincipal, ctx: CtxDep) -> CredentialRead:
    row = await service.unsuspend(session, ctx, principal, credential_id, body.reason)
    return await service.credential_read(session, ctx, row, with_document=False)


@router.post("/{credential_id}/reissue", response_model=CredentialRead, status_code=201,
             summary="Correct: revoke as superseded and issue the corrected credential, linked both ways")
async def reissue_credential(credential_id: uuid.UUID, body: Reissue, session: SessionDep, principal: CurrentPrincipal, ctx: CtxDep,
                             response: Response) -> CredentialRead:
    row = await service.reissue(session, ctx, principal, credential_id, body)
    response.headers["Location"] = link(f"/v1/credentials/{row.id}")
    return await service.credential_read(session, ctx, row)
