"""Share links: the holder creates, lists and revokes them; anyone with one views and verifies the credential."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from services.common.auth import CurrentPrincipal
from services.common.db import SessionDep
from services.common.links import link as public_link
from services.credentials.context import CtxDep
from services.credentials.sharing import service
from services.credentials.sharing.schemas import SharedCredential, ShareLinkCreate, ShareLinkCreated, ShareLinkRead
from services.credentials.verification import page
from services.credentials.verification import repository as verification_repo
from services.credentials.verification import service as verification
from services.credentials.verification.endpoints import wants_html
from services.credentials.verification.lookup import credential_view
from services.credentials.verification.schemas import LookupResult

router = APIRouter(tags=["share links"])


@router.post("/v1/credentials/{credential_id}/share-links", response_model=ShareLinkCreated, status_code=201,
             summary="Share your credential through a link that expires (at most 90 days); the holder only")
async def create_share_link(credential_id: uuid.UUID, body: ShareLinkCreate, session: SessionDep, principal: CurrentPrincipal,
                            ctx: CtxDep, response: Response) -> ShareLinkCreated:
    link = await service.create(session, ctx, principal, credential_id, body)
    response.headers["Location"] = public_link(f"/v1/credentials/{credential_id}/share-links/{link.id}")
    return link


@router.get("/v1/credentials/{credential_id}/share-links", response_model=list[ShareLinkRead], summary="Your share links of a credential")
async def list_share_links(credential_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> list[ShareLinkRead]:
    return await service.list_for(session, principal, credential_id)


@router.post("/v1/credentials/{credential_id}/share-links/{link_id}/revoke", response_model=ShareLinkRead,
             summary="Revoke a share link at once (idempotent)")
async def revoke_share_link(credential_id: uuid.UUID, link_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> ShareLinkRead:
    return await service.revoke(session, principal, credential_id, link_id)


@router.get("/v1/shared/{token}", response_model=SharedCredential,
            summary="A shared credential: verification result, fields and signed document (public, while the link lives)",
            responses={200: {"content": {"text/html": {}}}, 410: {"description": "expired or revoked by the holder"}})
async def view_shared(token: str, request: Request, ctx: CtxDep) -> Response:
    # one write transaction: the link's view count, the verification and its log row
    async with ctx.db.session(write=True) as session:
        link, row = await service.open_link(session, ctx, token)
        result = await verification.verify(session, ctx, row.document)
        await verification_repo.add_log(session, [verification.log_entry(result, channel="share", client_id=None)])
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    lookup = LookupResult(**result.model_dump(), credential=credential_view(row.document))
    if wants_html(request):
        return page.html_response(page.render(lookup, status_reason=row.status_reason), headers=headers)
    shared = SharedCredential(**lookup.model_dump(), expires_at=link.expires_at, document=row.document)
    return JSONResponse(shared.model_dump(mode="json"), headers=headers)
