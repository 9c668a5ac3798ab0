"""Machine-client registration: create, list, rotate the secret, enable/disable or change scopes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from services.common.auth import Principal, require_scopes
from services.common.db import SessionDep
from services.common.pagination import Page, PageDep
from services.identity.clients import repository, service
from services.identity.clients.schemas import ClientCreate, ClientCreated, ClientRead, ClientUpdate
from services.identity.context import IdentityCtxDep

router = APIRouter(tags=["clients"])
#: on every response that carries a secret (RFC 6749 §5.1); the Idempotency-Key store never keeps those
NO_STORE = "no-store"
ClientsAdmin = Annotated[Principal, Depends(require_scopes("identity:clients"))]


@router.post("/v1/clients", response_model=ClientCreated, status_code=201,
             summary="Register a machine client (the secret is returned once)")
async def create_client(body: ClientCreate, ctx: IdentityCtxDep, session: SessionDep, principal: ClientsAdmin,
                        response: Response) -> Any:
    """The new client gets only roles its creator may grant and scopes its creator holds (``accounts/grants.py``)."""
    created = await service.register(session, ctx.db, ctx.tokens, principal, body)
    response.headers["Cache-Control"] = NO_STORE  # carries a secret: never cached, never kept for an Idempotency-Key replay
    return created


@router.get("/v1/clients", response_model=Page[ClientRead], summary="Machine clients")
async def list_clients(session: SessionDep, page: PageDep, _: ClientsAdmin) -> Page[Any]:
    return await repository.page(session, page)


@router.post("/v1/clients/{client_id}/secret", response_model=ClientCreated, summary="Rotate a client's secret (the old one stops working)")
async def rotate_client_secret(client_id: str, ctx: IdentityCtxDep, session: SessionDep, principal: ClientsAdmin,
                               response: Response) -> Any:
    rotated = await service.rotate_secret(session, ctx.db, ctx.tokens, principal, client_id)
    response.headers["Cache-Control"] = NO_STORE
    return rotated


@router.patch("/v1/clients/{client_id}", response_model=ClientRead, summary="Enable/disable a client or change its scopes")
async def update_client(client_id: str, body: ClientUpdate, ctx: IdentityCtxDep, session: SessionDep, principal: ClientsAdmin) -> Any:
    return await service.update(session, ctx.db, principal, client_id, body)
