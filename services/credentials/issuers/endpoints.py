"""Issuers: their did:web documents (public, at the root as did:web requires), their profile and keys, set-up
and key rotation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from services.common.auth import CurrentPrincipal
from services.common.db import SessionDep
from services.common.errors import Forbidden
from services.common.permissions import ensure_institution
from services.credentials.context import CtxDep
from services.credentials.issuers import repository, service
from services.credentials.issuers.schemas import IssuerCreate, IssuerRead

router = APIRouter(tags=["issuers"])
ADMIN_ROLES = frozenset({"school_admin"})


def _may_manage(principal: Any, code: str) -> None:
    if principal.has_scope("credentials:admin"):
        return
    if not principal.has_scope("credentials:issue"):
        raise Forbidden("This call needs the scope credentials:issue or credentials:admin.")
    ensure_institution(principal, code, roles={"school_admin", "school_system"})


@router.get("/issuers/{code}/did.json", summary="The issuer's DID document (did:web, public)",
            responses={200: {"content": {"application/did+ld+json": {}}}})
async def did_document(code: str, session: SessionDep) -> Response:
    issuer = await service.get(session, code)
    keys = await repository.keys_of(session, issuer.id)
    document = service.did_document(issuer, keys)
    return JSONResponse(document, media_type="application/did+ld+json", headers={"Cache-Control": "public, max-age=300"})


@router.get("/v1/issuers/{code}", response_model=IssuerRead, summary="An issuer: DID, keys and their status (public)")
async def get_issuer(code: str, session: SessionDep, ctx: CtxDep) -> IssuerRead:
    issuer = await service.get(session, code)
    return service.to_read(ctx, issuer, await repository.keys_of(session, issuer.id))


@router.post("/v1/issuers", response_model=IssuerRead, status_code=201,
             summary="Set up the issuer of an institution (also done by its first credential); idempotent")
async def create_issuer(body: IssuerCreate, session: SessionDep, principal: CurrentPrincipal, ctx: CtxDep, response: Response) -> IssuerRead:
    _may_manage(principal, body.institution_code)
    existed = await repository.by_code(session, body.institution_code) is not None
    issuer = await service.ensure(session, ctx, body.institution_code)
    if existed:
        response.status_code = 200
    return service.to_read(ctx, issuer, await repository.keys_of(session, issuer.id))


@router.post("/v1/issuers/{code}/keys/rotate", response_model=IssuerRead,
             summary="Rotate the signing key: the old key only verifies from now on, a new one signs")
async def rotate_key(code: str, session: SessionDep, principal: CurrentPrincipal, ctx: CtxDep) -> IssuerRead:
    _may_manage(principal, code)
    issuer = await service.get(session, code)
    await service.rotate_key(session, ctx, issuer, principal)
    return service.to_read(ctx, issuer, await repository.keys_of(session, issuer.id))
