"""Person rules: validation of the number, one person per number, resolve-or-create in bulk, masking."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.common.permissions import is_national_officer, person_id_of
from services.identity.models import Person
from services.identity.persons import numbers, repository
from services.identity.persons.schemas import PersonIn, PersonRead, ResolveError, ResolveResponse, ResolveResult

UNMASK_SCOPE = "identity:persons:unmasked"


def _same_name(a: str, b: str) -> bool:
    def norm(s: str) -> str:
        return " ".join(unicodedata.normalize("NFC", s).casefold().split())

    return norm(a) == norm(b)


def errors_for(person: PersonIn) -> list[ResolveError]:
    return [
        ResolveError(field="id_number", rule=r.rule, message=r.message)
        for r in numbers.check(person.id_number, date_of_birth=person.date_of_birth, gender=person.gender)
    ]


def disagreements(existing: Person, incoming: PersonIn) -> list[ResolveError]:
    """Fields where what the caller says contradicts what is stored."""
    out = []
    if not _same_name(existing.full_name, incoming.full_name):
        out.append(ResolveError(field="full_name", rule="conflict", message="differs from the person registered with this number"))
    if incoming.date_of_birth and existing.date_of_birth and incoming.date_of_birth != existing.date_of_birth:
        out.append(ResolveError(field="date_of_birth", rule="conflict", message="differs from the person registered with this number"))
    if incoming.gender and existing.gender and incoming.gender != existing.gender:
        out.append(ResolveError(field="gender", rule="conflict", message="differs from the person registered with this number"))
    return out


def _fill_missing(existing: Person, incoming: PersonIn) -> None:
    existing.date_of_birth = existing.date_of_birth or incoming.date_of_birth
    existing.gender = existing.gender or incoming.gender
    existing.birth_place = existing.birth_place or incoming.birth_place


def _new(incoming: PersonIn) -> Person:
    return Person(
        id_number=incoming.id_number,
        full_name=incoming.full_name,
        date_of_birth=incoming.date_of_birth,
        gender=incoming.gender,
        birth_place=incoming.birth_place,
    )


async def create_or_get(session: AsyncSession, incoming: PersonIn) -> tuple[Person, bool]:
    """Returns (person, created). A second create with the same number and agreeing data returns the existing
    person; contradicting data is a 409 naming the fields."""
    broken = errors_for(incoming)
    if broken:
        raise ValidationFailed(
            "The personal identification number is not valid: " + "; ".join(f"{e.rule}: {e.message}" for e in broken),
            errors=[e.model_dump() for e in broken],
        )
    existing = await repository.by_number(session, incoming.id_number)
    if existing is not None:
        conflicts = disagreements(existing, incoming)
        if conflicts:
            raise Conflict(
                "A different person is registered with this number.",
                errors=[e.model_dump() for e in conflicts],
                person_id=str(existing.id),
            )
        _fill_missing(existing, incoming)
        return existing, False
    person = _new(incoming)
    session.add(person)
    await session.flush()
    return person, True


async def resolve_many(session: AsyncSession, items: Sequence[PersonIn]) -> ResolveResponse:
    """Resolve-or-create a batch in a handful of queries (records calls this during school sync)."""
    results: list[ResolveResult] = []
    valid: dict[str, PersonIn] = {}
    for i, item in enumerate(items):
        broken = errors_for(item)
        if broken:
            results.append(ResolveResult(index=i, status="invalid", errors=broken))
        else:
            results.append(ResolveResult(index=i, status="existing"))
            valid.setdefault(item.id_number, item)
    found = await repository.by_numbers(session, valid)
    new = {num: _new(item) for num, item in valid.items() if num not in found}
    session.add_all(new.values())
    await session.flush()
    people = found | new
    for result, item in zip(results, items, strict=True):
        if result.status == "invalid":
            continue
        person = people[item.id_number]
        conflicts = disagreements(person, item)
        if conflicts:
            result.status, result.errors = "conflict", conflicts
            continue
        if item.id_number in found:
            _fill_missing(person, item)
        result.person_id = person.id
        result.id_number_masked = numbers.mask(person.id_number)
        if item.id_number in new and valid[item.id_number] is item:
            result.status = "created"
    return ResolveResponse(
        results=results,
        created=sum(r.status == "created" for r in results),
        existing=sum(r.status == "existing" for r in results),
        rejected=sum(r.status in ("invalid", "conflict") for r in results),
    )


async def lookup(session: AsyncSession, principal: Principal, id_number: str) -> PersonRead:
    """The person with this number (the caller holds ``identity:persons``)."""
    if numbers.check(id_number):
        raise ValidationFailed("The personal identification number is not valid.", errors=[{"field": "id_number", "message": "invalid number"}])
    person = await repository.by_number(session, id_number)
    if person is None:
        raise NotFound("No person is registered with this number.")
    return to_read(person, principal)


async def own_person(session: AsyncSession, principal: Principal) -> PersonRead:
    """The signed-in citizen's own person record."""
    pid = person_id_of(principal)
    person = await repository.by_id(session, uuid.UUID(pid)) if pid else None
    if person is None:
        raise NotFound("Your account is not linked to a person.")
    return to_read(person, principal)


async def read(session: AsyncSession, principal: Principal, person_id: uuid.UUID) -> PersonRead:
    """A person, for themselves, a caller with ``identity:persons`` or a national officer (the number masked
    unless it is the caller's own or the caller may unmask)."""
    allowed = person_id_of(principal) == str(person_id) or principal.has_scope("identity:persons") or is_national_officer(principal)
    if not allowed:
        raise Forbidden("You may not read this person.")
    person = await repository.by_id(session, person_id)
    if person is None:
        raise NotFound(f"No person {person_id}.")
    return to_read(person, principal)


def may_see_full_number(principal: Principal | None, person: Person) -> bool:
    if principal is None:
        return False
    return person_id_of(principal) == str(person.id) or principal.has_scope(UNMASK_SCOPE)


def to_read(person: Person, principal: Principal | None) -> PersonRead:
    full = may_see_full_number(principal, person)
    return PersonRead(
        id=person.id,
        id_number=person.id_number if full else numbers.mask(person.id_number),
        id_number_masked=not full,
        full_name=person.full_name,
        date_of_birth=person.date_of_birth,
        gender=person.gender,  # type: ignore[arg-type]
        birth_place=person.birth_place,
        province_code=person.id_number[:3],
        current_province_code=numbers.current_province(person.id_number[:3]),
        created_at=person.created_at,
        updated_at=person.updated_at,
    )
