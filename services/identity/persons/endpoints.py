"""Persons by personal identification number: create-or-get, bulk resolve (for school sync), read (masked)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from services.common.auth import CurrentPrincipal, Principal, require_scopes
from services.common.db import SessionDep
from services.identity.persons import service
from services.identity.persons.schemas import LookupRequest, PersonIn, PersonRead, ResolveRequest, ResolveResponse

router = APIRouter(prefix="/v1/persons", tags=["persons"])
PersonsScope = Annotated[Principal, Depends(require_scopes("identity:persons"))]


@router.post("", response_model=PersonRead, status_code=201, summary="Register a person, or get the one with this number")
async def create_person(body: PersonIn, session: SessionDep, principal: PersonsScope, response: Response) -> PersonRead:
    person, created = await service.create_or_get(session, body)
    if not created:
        response.status_code = 200
    return service.to_read(person, principal)


@router.post("/resolve", response_model=ResolveResponse, summary="Resolve or create up to 10,000 persons by number")
async def resolve_persons(body: ResolveRequest, session: SessionDep, _: PersonsScope) -> ResolveResponse:
    return await service.resolve_many(session, body.persons)


@router.post("/lookup", response_model=PersonRead, summary="Find a person by number (the number stays out of the URL)")
async def lookup_person(body: LookupRequest, session: SessionDep, principal: PersonsScope) -> PersonRead:
    return await service.lookup(session, principal, body.id_number)


@router.get("/me", response_model=PersonRead, summary="The signed-in citizen's own person record")
async def my_person(session: SessionDep, principal: CurrentPrincipal) -> PersonRead:
    return await service.own_person(session, principal)


@router.get("/{person_id}", response_model=PersonRead, summary="A person (number masked unless it is you or you are authorised)")
async def get_person(person_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> PersonRead:
    return await service.read(session, principal, person_id)
