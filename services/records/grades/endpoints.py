"""Grades: enter one (teacher or school), read, correct with If-Match (412 on a stale ETag), delete, history."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from services.common.auth import CurrentPrincipal
from services.common.db import SessionDep
from services.common.errors import AppError, NotFound, PreconditionFailed, ValidationFailed
from services.records import access
from services.common.links import link
from services.records.models import Enrolment, Grade, GradeAudit, Learner, Module, Programme, Term
from services.records.grades import service as grades
from services.records.grading.scores import dec
from services.records.grades.schemas import GradeEntry, GradeRead, GradeRow, GradeUpdate
from services.records.sync.single import apply_one

router = APIRouter(tags=["grades"])


class PreconditionRequired(AppError):
    status, title, slug = 428, "Precondition required", "precondition-required"


# One change of a grade. Defined here rather than in schemas.py on purpose: oversight has a schema of the same name,
# so the OpenAPI document names this one by its module (services__records__grades__endpoints__AuditRead), and
# clients generated from the document keep that name. (A docstring would become the schema's description.)
class AuditRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    changed_at: Any
    actor: str
    source: str
    sync_job_id: uuid.UUID | None
    reason: str | None
    old: dict[str, Any] | None
    new: dict[str, Any] | None


def etag(g: Grade) -> str:
    return f'"g{g.version}"'


async def _context(session: Any, grade_id: uuid.UUID, *, lock: bool = False) -> tuple[Grade, Enrolment, Learner, Programme, Module, Term]:
    stmt = (
        select(Grade, Enrolment, Learner, Programme, Module, Term)
        .join(Enrolment, Grade.enrolment_id == Enrolment.id).join(Learner, Enrolment.learner_id == Learner.id)
        .join(Programme, Enrolment.programme_id == Programme.id).join(Module, Grade.module_id == Module.id)
        .join(Term, Grade.term_id == Term.id).where(Grade.id == grade_id)
    )
    if lock and session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=Grade)  # two editors with the same ETag: the second waits, then gets 412
    row = (await session.execute(stmt)).first()
    if row is None:
        raise NotFound(f"No grade {grade_id}.")
    return tuple(row)  # type: ignore[return-value]


def to_read(g: Grade, p: Programme, m: Module, t: Term) -> GradeRead:
    return GradeRead(
        id=g.id, institution_code=g.institution_code, enrolment_id=g.enrolment_id, programme_code=p.code, module_code=m.code,
        term_code=t.code, components=dict(g.components), score=dec(g.score), letter=g.letter, points=dec(g.points),
        passed=g.passed, version=g.version,
    )


async def _may_read_grade(session: Any, request: Request, principal: Any, learner: Learner) -> None:
    from services.common.permissions import person_id_of

    if person_id_of(principal) == str(learner.person_id):
        return
    access.ensure_read(principal, await access.institution(session, request, learner.institution_code))


@router.post("/v1/institutions/{code}/grades", response_model=GradeRead, status_code=201,
             summary="Enter a grade (upsert by learner — personal ID number or person —, programme, module, term)")
async def enter_grade(code: str, body: GradeEntry, request: Request, session: SessionDep, principal: CurrentPrincipal, response: Response) -> GradeRead:
    access.ensure_grade_entry(principal, code)
    await access.institution(session, request, code)
    row = await _by_number(session, code, body)
    result, applier = await apply_one(session, request, principal, code, "grades", row.model_dump(mode="json"))
    programme = applier.programmes[row.programme_code]
    module = applier.modules[(programme.id, row.module_code)]
    term = applier.terms[row.term_code]
    enrolment = applier.enrolments[(applier.learners[row.id_number].id, programme.id)]
    grade = applier.grades[(enrolment.id, module.id, term.id)]
    if result != "created":
        response.status_code = 200
    response.headers["Grade-Result"] = result  # created | updated | unchanged (a repeat of the same grade)
    response.headers["ETag"] = etag(grade)
    response.headers["Location"] = link(f"/v1/grades/{grade.id}")
    return to_read(grade, programme, module, term)


async def _by_number(session: Any, code: str, entry: GradeEntry) -> GradeRow:
    """The entry keyed by the learner's personal ID number, as every grade is (a person named instead is looked up
    among the institution's learners)."""
    if (entry.id_number is None) == (entry.person_id is None):
        raise ValidationFailed("Name the learner by id_number or by person_id.",
                               errors=[{"field": "id_number", "message": "give id_number or person_id, one of them"}])
    number = entry.id_number
    if entry.person_id is not None:
        number = await grades.number_of_person(session, code, entry.person_id)
        if number is None:
            raise ValidationFailed(f"No learner of {code} is this person.",
                                   errors=[{"field": "person_id", "message": f"no learner of {code} is linked to this person"}])
    assert number is not None
    return GradeRow(**entry.model_dump(exclude={"person_id", "id_number"}), id_number=number)


@router.get("/v1/grades/{grade_id}", response_model=GradeRead, summary="A grade (with its ETag)")
async def get_grade(grade_id: uuid.UUID, request: Request, session: SessionDep, principal: CurrentPrincipal, response: Response) -> GradeRead:
    g, _, learner, p, m, t = await _context(session, grade_id)
    await _may_read_grade(session, request, principal, learner)
    response.headers["ETag"] = etag(g)
    return to_read(g, p, m, t)


def _check_etag(g: Grade, if_match: str | None) -> None:
    if if_match is None:
        raise PreconditionRequired("Send If-Match with the grade's ETag so a concurrent change is not overwritten.")
    if if_match.strip() not in (etag(g), "*"):
        raise PreconditionFailed(f"The grade was changed by someone else (now {etag(g)}); reload it and retry.", current_etag=etag(g))


@router.put("/v1/grades/{grade_id}", response_model=GradeRead, summary="Correct a grade (If-Match required; audited)")
async def update_grade(grade_id: uuid.UUID, body: GradeUpdate, request: Request, session: SessionDep, principal: CurrentPrincipal,
                       response: Response, if_match: Annotated[str | None, Header()] = None) -> GradeRead:
    g, _, learner, p, m, t = await _context(session, grade_id, lock=True)
    access.ensure_grade_entry(principal, g.institution_code)
    _check_etag(g, if_match)
    data = {"id_number": learner.id_number, "programme_code": p.code, "module_code": m.code, "term_code": t.code,
            "components": body.components, "reason": body.reason}
    await apply_one(session, request, principal, g.institution_code, "grades", data)
    await session.refresh(g)
    response.headers["ETag"] = etag(g)
    return to_read(g, p, m, t)


@router.delete("/v1/grades/{grade_id}", status_code=204, summary="Remove a grade entered in error (If-Match required; audited)")
async def delete_grade(grade_id: uuid.UUID, request: Request, session: SessionDep, principal: CurrentPrincipal,
                       reason: str, if_match: Annotated[str | None, Header()] = None) -> Response:
    g, _, learner, p, m, t = await _context(session, grade_id, lock=True)
    access.ensure_grade_entry(principal, g.institution_code)
    _check_etag(g, if_match)
    data = {"id_number": learner.id_number, "programme_code": p.code, "module_code": m.code, "term_code": t.code}
    _, applier = await apply_one(session, request, principal, g.institution_code, "grades", data, op="delete")
    return Response(status_code=204)


@router.get("/v1/grades/{grade_id}/history", response_model=list[AuditRead], summary="Every change of a grade: who, when, old → new, why, source")
async def grade_history(grade_id: uuid.UUID, request: Request, session: SessionDep, principal: CurrentPrincipal) -> Any:
    audits = list((await session.scalars(select(GradeAudit).where(GradeAudit.grade_id == grade_id).order_by(GradeAudit.changed_at, GradeAudit.id))).all())
    grade = await session.get(Grade, grade_id)
    if grade is None:
        if audits and access.is_platform_admin(principal):
            return audits  # a deleted grade's trail stays readable by the platform operator
        raise NotFound(f"No grade {grade_id}.")
    access.ensure_read(principal, await access.institution(session, request, grade.institution_code))
    return audits
