"""Learners (người học) of an institution, each linked to identity's person by the personal ID number.

A learner row creates or updates the learner (and, when it names a programme, the enrolment on the same row); the
persons of a chunk's learner rows are resolved in identity with one call per :data:`RESOLVE_BATCH` rows, never one
per row. A stored learner changes only in the fields a row carries.

Correcting a learner's personal ID number changes the natural key, so the change feed reports key changes (old key
→ new key) for the learner and for every enrolment and grade whose key carries the number; the OneRoster users
remembered with the old number name the new one."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import Conflict, NotFound, ValidationFailed
from services.common.links import link
from services.common.pagination import Page, PageParams
from services.common.privacy import mask_id_number
from services.common.text import fold
from services.records.changes.service import ChangeLog
from services.records.enrolments import service as enrolments
from services.records.enrolments.schemas import EnrolmentRow
from services.records.fields import rejected, validated
from services.records.learners import repository
from services.records.learners.schemas import EnrolmentRead, KeyChangeRead, LearnerRead, LearnerRow
from services.records.models import Learner, LearnerKeyChange
from services.records.workspace import service as workspace
from services.records.workspace.service import RowError, RowResult, Workspace

#: resolves persons in identity: list of PersonIn-shaped dicts → identity's ResolveResult dicts, same order
PersonResolver = Callable[[list[dict[str, Any]]], Awaitable[list[dict[str, Any]]]]
RESOLVE_BATCH = 10_000
MAJORITY_ETHNICITY = {"kinh", "01"}


# -- persons in identity -----------------------------------------------------------------------------------------
def person_in(id_number: str, full_name: str, date_of_birth: Any, sex: str | None, birth_place: str | None) -> dict[str, Any]:
    """A person as identity's resolve call takes it (fields not known left out)."""
    person = {"id_number": id_number, "full_name": full_name, "date_of_birth": date_of_birth.isoformat() if date_of_birth else None,
              "gender": sex, "birth_place": birth_place}
    return {k: v for k, v in person.items() if v is not None}


def person_errors(result: dict[str, Any]) -> list[tuple[str, str]]:
    """Why identity refused a person, as (field, message) in records' names (identity's ``gender`` is ``sex``)."""
    return [({"gender": "sex"}.get(e.get("field", "id_number"), e.get("field", "id_number")), e.get("message", "invalid"))
            for e in result.get("errors") or [{"field": "id_number", "message": "rejected by the person registry"}]]


async def resolve_persons(resolver: PersonResolver | None, rows: Sequence[LearnerRow]) -> list[uuid.UUID | list[tuple[str, str]]]:
    """Each row's person in identity: its id, or why identity refused it; in :data:`RESOLVE_BATCH` rows per call."""
    if not rows:
        return []
    if resolver is None:
        raise RuntimeError("learner rows need a person resolver")
    out: list[uuid.UUID | list[tuple[str, str]]] = []
    for start in range(0, len(rows), RESOLVE_BATCH):
        batch = rows[start : start + RESOLVE_BATCH]
        results = await resolver([person_in(r.id_number, r.full_name, r.date_of_birth, r.sex, r.birth_place) for r in batch])
        for _, res in zip(batch, results, strict=True):
            out.append(uuid.UUID(str(res["person_id"])) if res.get("person_id") else person_errors(res))
    return out


# -- the rule, for a sync's rows ---------------------------------------------------------------------------------
def upsert_learner(ws: Workspace, row: LearnerRow, person_id: uuid.UUID) -> RowResult:
    enrolment = None
    if row.programme_code:
        enrolment = EnrolmentRow(
            id_number=row.id_number, programme_code=row.programme_code, cohort_code=row.cohort_code,
            mode=row.mode or "full_time", status=row.status or "enrolled", enrolled_on=row.enrolled_on,
        )
        enrolments.check_enrolment(ws, enrolment)
    elif row.cohort_code or row.mode or row.status or row.enrolled_on:
        raise RowError("programme_code", "needed when the row carries an enrolment (cohort, mode, status, enrolled_on)")
    values = {
        "person_id": person_id, "full_name": row.full_name, "date_of_birth": row.date_of_birth, "sex": row.sex,
        "birth_place": row.birth_place, "ethnicity": row.ethnicity,
        "ethnic_minority": bool(row.ethnicity and fold(row.ethnicity) not in MAJORITY_ETHNICITY),
        "disability": row.disability, "learner_code": row.learner_code,
    }
    existing = ws.learners.get(row.id_number)
    if existing is None:
        existing = Learner(id=uuid.uuid4(), institution_code=ws.code, id_number=row.id_number, **values)
        ws.add(existing)
        ws.learners[row.id_number] = existing
        result: RowResult = "created"
    else:
        # a stored learner changes only in the fields the row carries: a source that cannot carry some (a
        # OneRoster users row has no ethnicity or disability) must not erase what another sync recorded
        sent = row.model_fields_set | {"person_id"} | ({"ethnic_minority"} if "ethnicity" in row.model_fields_set else set())
        values = {k: v for k, v in values.items() if k in sent}
        if any(getattr(existing, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(existing, k, v)
            result = "updated"
        else:
            result = "unchanged"
    if result != "unchanged":
        ws.changes.add(ws.code, "learner", "upsert", {"institution_code": ws.code, "id_number": row.id_number})
    if enrolment is not None:
        r = enrolments.upsert_enrolment(ws, enrolment)
        if r != "unchanged" and result == "unchanged":
            result = "updated"
    return result


def _person_key(person: dict[str, Any]) -> str:
    return json.dumps(person, sort_keys=True, default=str)


async def resolve_ahead(resolver: PersonResolver, rows: Sequence[dict[str, Any]]) -> PersonResolver:
    """The persons of learner rows (sync-shaped dicts, as :func:`put_learner` takes them) resolved in identity now,
    before the write transaction that writes them opens (no call to another service while a write transaction holds
    its locks); returns a resolver that answers for them from what identity said. A row that does not validate is
    left to the write, which rejects it; a person not asked ahead (none should be) is asked when needed."""
    persons = []
    for data in rows:
        try:
            row = LearnerRow.model_validate(data)
        except ValidationError:
            continue
        persons.append(person_in(row.id_number, row.full_name, row.date_of_birth, row.sex, row.birth_place))
    answers = {_person_key(p): a for p, a in zip(persons, await resolver(persons) if persons else [], strict=True)}

    async def replay(asked: list[dict[str, Any]]) -> list[dict[str, Any]]:
        missing = [p for p in asked if _person_key(p) not in answers]
        if missing:
            answers.update((_person_key(p), a) for p, a in zip(missing, await resolver(missing), strict=True))
        return [answers[_person_key(p)] for p in asked]

    return replay


async def put_learner(session: AsyncSession, resolver: PersonResolver, code: str, data: dict[str, Any], *, actor: str) -> RowResult:
    """One learner row through the API (with its enrolment if it names a programme), by the rules of a sync's
    learner rows: its person resolved in identity, then created or updated. In a write transaction, ``resolver``
    is one :func:`resolve_ahead` asked before it opened."""
    row = validated(LearnerRow, data)
    ws = await workspace.open_workspace(session, code, actor=actor)
    (person,) = await resolve_persons(resolver, [row])
    if not isinstance(person, uuid.UUID):
        raise rejected(person)
    await workspace.prefetch(ws, [row])
    with workspace.rejecting():
        result = upsert_learner(ws, row, person)
    await workspace.finish(ws)
    return result


# -- correcting the personal ID number ---------------------------------------------------------------------------
@dataclass(frozen=True)
class NumberCorrection:
    """A correction checked on a read and its new person resolved in identity, both before the request's write
    transaction opens (no call to another service while a write transaction holds its locks)."""

    learner_id: uuid.UUID
    new_number: str
    new_person_id: uuid.UUID
    #: the learner's number and particulars identity was asked with: the write applies the correction only to them
    seen: tuple[Any, ...]


def _particulars(learner: Learner) -> tuple[Any, ...]:
    return (learner.id_number, learner.full_name, learner.date_of_birth, learner.sex, learner.birth_place)


async def check_new_number(session: AsyncSession, learner: Learner, new_number: str) -> None:
    """422 if the number is the one on record, 409 if another learner of the institution has it: checked before
    identity is asked, so no person is resolved for a correction that is refused."""
    if new_number == learner.id_number:
        raise ValidationFailed("The new personal ID number is the one on record.", errors=[{"field": "id_number", "message": "unchanged"}])
    if await repository.number_taken(session, learner.institution_code, new_number):
        raise Conflict(f"Another learner at institution {learner.institution_code} has this personal ID number.")


async def resolve_new_number(resolver: PersonResolver, learner: Learner, new_number: str) -> NumberCorrection:
    """The person of the new number in identity (422 naming the field when identity refuses it). Call it with no
    write transaction open."""
    (result,) = await resolver([person_in(new_number, learner.full_name, learner.date_of_birth, learner.sex, learner.birth_place)])
    if not result.get("person_id"):
        errors = person_errors(result)
        raise ValidationFailed("; ".join(f"{f}: {m}" for f, m in errors), errors=[{"field": f, "message": m} for f, m in errors])
    return NumberCorrection(learner.id, new_number, uuid.UUID(str(result["person_id"])), _particulars(learner))


async def correct_id_number(session: AsyncSession, correction: NumberCorrection, reason: str, *, actor: str) -> Learner:
    """The correction written (in the request's write transaction): the learner locked and checked again — the
    number still free, the learner as identity was asked about it (else 409, send again) — then renumbered, the
    change audited and reported to the feed."""
    learner = await repository.learner(session, correction.learner_id, lock=True)
    if learner is None:
        raise NotFound(f"No learner {correction.learner_id}.")
    if _particulars(learner) != correction.seen:
        raise Conflict("The learner was changed while the correction was being checked; send it again.", headers={"Retry-After": "1"})
    new_number = correction.new_number
    await check_new_number(session, learner, new_number)
    old_number, code = learner.id_number, learner.institution_code
    change = LearnerKeyChange(
        id=uuid.uuid4(), learner_id=learner.id, institution_code=code, old_id_number=old_number, new_id_number=new_number,
        old_person_id=learner.person_id, new_person_id=correction.new_person_id, reason=reason, actor=actor,
    )
    session.add(change)
    learner.id_number, learner.person_id = new_number, change.new_person_id
    await repository.renumber_oneroster_users(session, code, old_number, new_number)

    changes = ChangeLog()
    learner_key = {"institution_code": code, "id_number": new_number}
    changes.add(code, "learner", "key_change", learner_key, {"institution_code": code, "id_number": old_number})
    for programme_code in await repository.enrolled_programme_codes(session, learner.id):
        changes.add(code, "enrolment", "key_change", learner_key | {"programme_code": programme_code},
                    {"institution_code": code, "id_number": old_number, "programme_code": programme_code})
    for programme_code, module_code, term_code in await repository.grade_keys(session, learner.id):
        rest = {"programme_code": programme_code, "module_code": module_code, "term_code": term_code}
        changes.add(code, "grade", "key_change", learner_key | rest, {"institution_code": code, "id_number": old_number} | rest)
    try:
        await session.flush()
    except IntegrityError:  # the number taken meanwhile by a concurrent request (PostgreSQL's unique key)
        raise Conflict(f"Another learner at institution {code} has this personal ID number.") from None
    await changes.flush(session)
    return learner


# -- reads -------------------------------------------------------------------------------------------------------
async def get_learner(session: AsyncSession, learner_id: uuid.UUID) -> Learner:
    learner = await repository.learner(session, learner_id)
    if learner is None:
        raise NotFound(f"No learner {learner_id}.")
    return learner


async def learner_read(session: AsyncSession, learner: Learner, *, full_number: bool) -> LearnerRead:
    """The learner with their enrolments; the personal ID number in full or masked."""
    rows = await repository.enrolments_with_programmes(session, learner.id)
    return LearnerRead(
        id=learner.id, institution_code=learner.institution_code, person_id=learner.person_id,
        id_number=learner.id_number if full_number else mask_id_number(learner.id_number), id_number_masked=not full_number,
        learner_code=learner.learner_code, full_name=learner.full_name, date_of_birth=learner.date_of_birth, sex=learner.sex,
        birth_place=learner.birth_place, ethnicity=learner.ethnicity, ethnic_minority=learner.ethnic_minority, disability=learner.disability,
        enrolments=[
            EnrolmentRead(
                id=e.id, programme_code=p.code, programme_name=p.name, cohort_id=e.cohort_id, mode=e.mode, status=e.status,
                enrolled_on=e.enrolled_on, graduated_on=e.graduated_on, gpa=str(e.gpa) if e.gpa is not None else None,
                classification=e.classification, transcript_url=link(f"/v1/enrolments/{e.id}/transcript"),
            )
            for e, p in rows
        ],
    )


async def learners_page(session: AsyncSession, institution_code: str, params: PageParams) -> Page[Learner]:
    return await repository.page(session, institution_code, params)


async def records_of_person(session: AsyncSession, person_id: uuid.UUID) -> list[Learner]:
    """The person's learner records at every institution."""
    return await repository.of_person(session, person_id)


async def key_changes(session: AsyncSession, learner: Learner, *, full_numbers: bool) -> list[KeyChangeRead]:
    return [
        KeyChangeRead(
            old_id_number=kc.old_id_number if full_numbers else mask_id_number(kc.old_id_number),
            new_id_number=kc.new_id_number if full_numbers else mask_id_number(kc.new_id_number),
            reason=kc.reason, actor=kc.actor, changed_at=kc.changed_at,
        )
        for kc in await repository.key_changes(session, learner.id)
    ]
