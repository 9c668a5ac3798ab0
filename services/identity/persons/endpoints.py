"""Persons by personal identification number: create-or-get, bulk resolve (for school sync), read (masked)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from services.common.auth import CurrentPrincipal, Principal, require_scopes
from services.common.db import SessionDep
from services.common.errors import Forbidden, NotFound, ValidationFailed
from services.common.permissions import is_national_officer, person_id_of
from services.identity.persons import numbers, repository, service
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
    if numbers.check(body.id_number):
        raise ValidationFailed("The personal identification number is not valid.", errors=[{"field": "id_number", "message": "invalid number"}])
    person = await repository.by_number(session, body.id_number)
    if person is None:
        raise NotFound("No person is registered with this number.")
    return service.to_read(person, principal)


@router.get("/me", response_model=PersonRead, summary="The signed-in citizen's own person record")
async def my_person(session: SessionDep, principal: CurrentPrincipal) -> PersonRead:
    pid = person_id_of(principal)
    person = await repository.by_id(session, uuid.UUID(pid)) if pid else None
    if person is None:
        raise NotFound("Your account is not linked to a person.")
    return service.to_read(person, principal)


@router.get("/{person_id}", response_model=PersonRead, summary="A person (number masked unless it is you or you are authorised)")
async def get_person(person_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> PersonRead:
    allowed = person_id_of(principal) == str(person_id) or principal.has_scope("identity:persons") or is_national_officer(principal)
    if not allowed:
        raise Forbidden("You may not read this person.")
    person = await repository.by_id(session, person_id)
    if person is None:
        raise NotFound(f"No person {person_id}.")
    return service.to_read(person, principal)
