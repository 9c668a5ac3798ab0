"""Issuing and managing credentials: single issue, reads, the learner's own list, revoke / suspend / unsuspend,
correction (reissue)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

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


class ListQuery(BaseModel):
    """The list's query parameters, validated in one step (FastAPI's per-parameter validation was a tenth of this
    hot route's CPU); a bad one is the same 422 naming it (``in: query``)."""

    limit: int = Field(50, ge=1, le=MAX_LIMIT, description="page size")
    cursor: str | None = Field(None, description="opaque cursor from next_cursor")
    institution: str | None = Field(None, max_length=20, description="institution code; omitted: your own credentials")
    status: str | None = Field(None, pattern="^(active|suspended|revoked)$")


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The OpenAPI ``parameters`` of ``model``'s fields, as FastAPI would write them for ``Query`` parameters."""
    schema = model.model_json_schema()
    return [{"name": name, "in": "query", "required": False, "schema": field, **(
        {"description": field["description"]} if "description" in field else {})}
        for name, field in schema["properties"].items()]


def list_query(request: Request) -> ListQuery:
    try:
        return ListQuery.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("query", *e["loc"])} for e in exc.errors(include_url=False)]) from None


@router.get("", response_model=Page[CredentialSummary], summary="Credentials of an institution (its staff) or your own",
            openapi_extra={"parameters": _query_parameters(ListQuery)})
async def list_credentials(request: Request) -> Response:
    # a hot authenticated list: the caller and the context from the request, the query parameters validated in one
    # step (no dependencies to resolve), one statement on a pooled driver connection, the page's rows serialised
    # straight to JSON (no model built per row, nor validated again against the response model)
    query = list_query(request)
    institution, status = query.institution, query.status
    page = PageParams.model_construct(limit=query.limit, cursor=query.cursor)
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
