"""Grades (điểm học phần): a learner's module in a term, graded from its component scores by the programme's grading
policy (:mod:`services.records.grading.rules`); and an enrolment's record (GPA, eligibility) from its grades.

One set of rules for a grade row, whether it comes from a sync or from one API call: the programme, module and
term must exist, the learner must be enrolled and not withdrawn, the components must be the module's (0–10). A grade
is upserted by its natural key (learner, programme, module, term): the same data again changes nothing. Every
change is audited (old → new, who, why, from which job) and lands in the change feed.

Two ways to write, one outcome: through the ORM (SQLite; the API), or, in a sync on PostgreSQL, set-based
(:mod:`services.records.grades.repository`): grade rows wait in the workspace and are written together before any
other row, a repeated sitting, or the end of the chunk."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import AppError, NotFound, PreconditionFailed, ValidationFailed
from services.records.changes.service import flat_json
from services.records.fields import validated
from services.records.grades import repository
from services.records.grades.repository import PendingGrade
from services.records.grades.schemas import GradeDelete, GradeEntry, GradeRead, GradeRow
from services.records.grading.rules import (
    DEFAULT_POLICY,
    GradingError,
    GradingPolicy,
    ModuleResult,
    Recognised,
    Standing,
    check_weights,
    standing,
    term_gpa,
)
from services.records.grading.scores import dec, weighted
from services.records.models import Enrolment, Grade, GradeAudit, Learner, Module, Programme, Term
from services.records.recognition import repository as recognitions
from services.records.workspace import service as workspace
from services.records.workspace.service import RowError, RowResult, SittingKey, Workspace


class PreconditionRequired(AppError):
    status, title, slug = 428, "Precondition required", "precondition-required"


@dataclass(frozen=True, slots=True)
class Sitting:
    """What a grade row's programme, module and term codes name, looked up once per chunk."""

    programme: Programme
    module: Module
    term: Term
    programme_id: uuid.UUID
    module_id: uuid.UUID
    term_id: uuid.UUID
    policy: GradingPolicy
    #: the change-feed key of a grade in this sitting as JSON, around the learner's ID number: (head, tail); None
    #: when a code needs escaping (then :func:`flat_json` makes it)
    key_json: tuple[str, str] | None


def _plain(text: str) -> bool:
    """Text that goes into a JSON string as it is."""
    return '"' not in text and "\\" not in text and text.isprintable()


def snapshot_of(g: Grade) -> dict[str, Any]:
    """A grade's values as the audit keeps them."""
    return {"components": dict(g.components), "score": dec(g.score), "letter": g.letter, "points": dec(g.points), "passed": g.passed}


# -- the rules -----------------------------------------------------------------------------------------------------
def sitting(ws: Workspace, row: GradeRow | GradeDelete) -> Sitting:
    """The catalogue rows a grade row names (programme, module, term), checked in that order."""
    found: Sitting | None = ws.sittings.get((row.programme_code, row.module_code, row.term_code))
    if found is not None:
        return found
    programme = ws.programme(row.programme_code, "programme_code")
    module = ws.modules.get((programme.id, row.module_code))
    if module is None:
        raise RowError("module_code", f"module {row.module_code!r} is not in programme {programme.code}")
    term = ws.terms.get(row.term_code)
    if term is None:
        raise RowError("term_code", f"unknown term {row.term_code!r} at institution {ws.code}")
    codes = (ws.code, row.programme_code, row.module_code, row.term_code)
    key_json = (f'{{"institution_code": "{ws.code}", "id_number": "',
                f'", "programme_code": "{row.programme_code}", "module_code": "{row.module_code}", "term_code": "{row.term_code}"}}'
                ) if _plain("".join(codes)) else None
    found = Sitting(programme, module, term, programme.id, module.id, term.id, ws.policy(programme), key_json)
    ws.sittings[(row.programme_code, row.module_code, row.term_code)] = found
    return found


def _key(ws: Workspace, row: GradeRow | GradeDelete) -> tuple[Sitting, SittingKey]:
    plan = sitting(ws, row)
    enrolment = ws.enrolment(ws.learner(row.id_number), plan.programme)
    return plan, (enrolment.id, plan.module_id, plan.term_id)


def _score(ws: Workspace, plan: Sitting, components: dict[str, Any]) -> tuple[Decimal, Any, dict[str, Any]]:
    """A module's score from its component scores: (score, letter band, snapshot as the audit keeps it)."""
    checked = ws.checked_weights.get(plan.module_id)
    try:
        if checked is None:
            checked = ws.checked_weights[plan.module_id] = check_weights(plan.module.weights or plan.programme.weights)
            ws.plain_names[plan.module_id] = all(_plain(name) for name in checked)
        score, canonical = weighted(components, checked)
    except GradingError as err:
        raise RowError(err.field, err.message) from None
    graded = ws.bands.get((plan.policy.code, score))
    if graded is None:
        band = plan.policy.letter(score)
        graded = ws.bands[(plan.policy.code, score)] = (band, plan.policy.passed(score), dec(score), dec(band.points))
    band, passed, score_text, points_text = graded
    return score, band, {"components": canonical, "score": score_text, "letter": band.letter, "points": points_text, "passed": passed}


def _change_key(ws: Workspace, row: GradeRow | GradeDelete) -> dict[str, Any]:
    return {"institution_code": ws.code, "id_number": row.id_number, "programme_code": row.programme_code,
            "module_code": row.module_code, "term_code": row.term_code}


def _audit(ws: Workspace, grade_id: uuid.UUID, old: dict[str, Any] | None, new: dict[str, Any] | None, reason: str | None) -> None:
    ws.add(GradeAudit(
        id=uuid.uuid4(), grade_id=grade_id, actor=ws.actor, source=ws.source, sync_job_id=ws.job_id,
        reason=reason, old=old, new=new,
    ))


async def upsert_grade(ws: Workspace, row: GradeRow) -> RowResult:
    """created | updated | unchanged; ``pending`` when the workspace writes grades set-based (the row's result is
    its :class:`PendingGrade`'s once :func:`flush_pending` wrote it)."""
    if ws.bulk:
        return await _stage(ws, row)
    plan = sitting(ws, row)
    enrolment = ws.enrolment(ws.learner(row.id_number), plan.programme)
    if enrolment.status == "withdrawn":
        raise RowError("id_number", "the learner has withdrawn from this programme")
    score, band, new = _score(ws, plan, row.components)
    module, term = plan.module, plan.term
    components = dict(new["components"])
    existing = ws.grades.get((enrolment.id, module.id, term.id))
    if existing is None:
        grade = Grade(
            id=uuid.uuid4(), institution_code=ws.code, enrolment_id=enrolment.id, module_id=module.id, term_id=term.id,
            components=components, score=score, letter=band.letter, points=band.points, passed=new["passed"], version=1,
        )
        ws.add(grade)
        ws.grades[(enrolment.id, module.id, term.id)] = grade
        _audit(ws, grade.id, None, new, row.reason)
        result: RowResult = "created"
    else:
        old = snapshot_of(existing)
        if old == new:
            return "unchanged"
        existing.components, existing.score, existing.letter = components, score, band.letter
        existing.points, existing.passed = band.points, new["passed"]
        existing.version += 1
        _audit(ws, existing.id, old, new, row.reason)
        result = "updated"
    ws.changes.add(ws.code, "grade", "upsert", _change_key(ws, row))
    return result


async def merge_stored(ws: Workspace, row: GradeRow) -> GradeRow:
    """A delta row (e.g. a OneRoster delta ``results.csv``) carries only the components that changed: the others
    come from the grade stored under the row's natural key, so the module score is recomputed from the whole set.
    Without a stored grade the row must name every component, as any row does. Stored components the module no
    longer weighs are left out."""
    plan, key = _key(ws, row)
    stored: dict[str, Any] | None = None
    if ws.bulk:
        if key in ws.pending_keys:  # the same sitting earlier in the chunk: written first, then read back
            await flush_pending(ws)
        stored = await repository.stored_components_locked(ws.session, key)
    else:
        grade = ws.grades.get(key)
        if grade is None and not any((g.enrolment_id, g.module_id, g.term_id) == key for g in ws.deleted):
            grade = await repository.stored(ws.session, key)
            if grade is not None:  # not prefetched for this chunk: known from now on, so it is updated, not inserted
                ws.grades[key] = grade
        stored = dict(grade.components) if grade is not None else None
    if not stored:
        return row
    weighed = plan.module.weights or plan.programme.weights or {}
    kept = {k: v for k, v in stored.items() if k in weighed}
    return row.model_copy(update={"components": kept | row.components})


async def delete_grade(ws: Workspace, row: GradeDelete, reason: str | None = None) -> RowResult:
    """deleted | unchanged (there was no such grade); audited."""
    _, key = _key(ws, row)
    if ws.bulk:
        gone = await repository.delete_returning(ws.session, key)
        if gone is None:
            return "unchanged"
        _audit(ws, gone.id, repository.snapshot(gone.components, gone.score, gone.letter, gone.points, gone.passed), None, reason)
    else:
        existing = ws.grades.pop(key, None)
        if existing is None:
            return "unchanged"
        _audit(ws, existing.id, snapshot_of(existing), None, reason)
        ws.deleted.append(existing)
    ws.changes.add(ws.code, "grade", "delete", _change_key(ws, row))
    return "deleted"


# -- set-based writes (a sync on PostgreSQL) -------------------------------------------------------------------------
def pending_grade(ws: Workspace, row: GradeRow) -> PendingGrade:
    """A grade row checked and graded, ready for a set-based write (the same rules as :func:`upsert_grade`)."""
    plan = sitting(ws, row)
    learner = ws.learners.get(row.id_number)
    if learner is None:
        raise RowError("id_number", f"no learner with this personal ID number at institution {ws.code}")
    enrolment = ws.enrolments.get((learner.id, plan.programme_id))
    if enrolment is None:
        raise RowError("programme_code", f"the learner is not enrolled in programme {row.programme_code}")
    if enrolment.status == "withdrawn":
        raise RowError("id_number", "the learner has withdrawn from this programme")
    score, band, new = _score(ws, plan, row.components)
    key = {"institution_code": ws.code, "id_number": row.id_number, "programme_code": row.programme_code,
           "module_code": row.module_code, "term_code": row.term_code}
    components = new["components"]
    if ws.plain_names.get(plan.module_id):  # component names that need no escaping; the values are numbers
        components_json = "{" + ", ".join([f'"{k}": "{v}"' for k, v in components.items()]) + "}"
    else:
        components_json = flat_json(components)
    # the ID number is 12 digits (checked by GradeRow)
    change_json = plan.key_json[0] + row.id_number + plan.key_json[1] if plan.key_json else flat_json(key)
    return PendingGrade((enrolment.id, plan.module_id, plan.term_id), new, str(score), str(band.points), row.reason, key,
                        components_json=components_json, change_json=change_json,
                        new_json=repository.snapshot_json(new, components_json))


async def _stage(ws: Workspace, row: GradeRow) -> RowResult:
    pending = pending_grade(ws, row)
    if pending.key in ws.pending_keys:  # the same sitting twice in a chunk: the first is written first
        await flush_pending(ws)
    ws.pending_grades.append(pending)
    ws.pending_keys.add(pending.key)
    return "pending"


async def flush_pending(ws: Workspace) -> None:
    """Writes the grades waiting in the workspace, after the rows the chunk made before them."""
    if not ws.pending_grades:
        return
    pending, ws.pending_grades = ws.pending_grades, []
    ws.pending_keys.clear()
    await workspace.write_new(ws)  # the learners, enrolments… earlier rows of the chunk created
    await ws.session.flush()
    await write_pending(ws, pending)


async def write_pending(ws: Workspace, pending: Sequence[PendingGrade]) -> None:
    """Writes checked grades of distinct sittings set-based (audited); each one's ``result`` says what happened, and
    the changed ones go to the change log."""
    optimistic, ws.optimistic = ws.optimistic, False  # a later round of the chunk may update what this one wrote
    stage_used, savepoint = await repository.write_grades(
        ws.session, list(pending), institution_code=ws.code, actor=ws.actor, source=ws.source, job_id=ws.job_id,
        stage_empty=not ws.stage_used, copy_new=ws.savepoints < repository.MAX_SAVEPOINTS, optimistic=optimistic)
    ws.stage_used = ws.stage_used or stage_used
    ws.savepoints += savepoint
    for p in pending:
        if p.result != "unchanged":
            ws.changes.add(ws.code, "grade", "upsert", p.change_key, key_json=p.change_json)


# -- one grade through the API ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GradeInContext:
    """A grade with what it belongs to."""

    grade: Grade
    enrolment: Enrolment
    learner: Learner
    programme: Programme
    module: Module
    term: Term


def etag(g: Grade) -> str:
    return f'"g{g.version}"'


def grade_read(g: Grade, p: Programme, m: Module, t: Term) -> GradeRead:
    return GradeRead(
        id=g.id, institution_code=g.institution_code, enrolment_id=g.enrolment_id, programme_code=p.code, module_code=m.code,
        term_code=t.code, components=dict(g.components), score=dec(g.score), letter=g.letter, points=dec(g.points),
        passed=g.passed, version=g.version,
    )


async def get_grade(session: AsyncSession, grade_id: uuid.UUID, *, lock: bool = False) -> GradeInContext:
    """The grade; ``lock``: for a change (two editors with the same ETag: the second waits, then gets 412)."""
    found = await repository.sitting_of(session, grade_id, lock=lock)
    if found is None:
        raise NotFound(f"No grade {grade_id}.")
    return GradeInContext(*found)


async def number_of_person(session: AsyncSession, institution_code: str, person_id: uuid.UUID) -> str | None:
    """The personal ID number of the institution's learner linked to this person (grades are keyed by it)."""
    return await repository.number_of_person(session, institution_code, person_id)


async def by_number(session: AsyncSession, code: str, entry: GradeEntry) -> GradeRow:
    """The entry keyed by the learner's personal ID number, as every grade is (a person named instead is looked up
    among the institution's learners)."""
    if (entry.id_number is None) == (entry.person_id is None):
        raise ValidationFailed("Name the learner by id_number or by person_id.",
                               errors=[{"field": "id_number", "message": "give id_number or person_id, one of them"}])
    number = entry.id_number
    if entry.person_id is not None:
        number = await number_of_person(session, code, entry.person_id)
        if number is None:
            raise ValidationFailed(f"No learner of {code} is this person.",
                                   errors=[{"field": "person_id", "message": f"no learner of {code} is linked to this person"}])
    assert number is not None
    return GradeRow(**entry.model_dump(exclude={"person_id", "id_number"}), id_number=number)


async def enter_grade(session: AsyncSession, code: str, data: dict[str, Any], *, actor: str) -> tuple[str, GradeInContext]:
    """Creates or updates the grade of the row's sitting: (created | updated | unchanged, the grade)."""
    row = validated(GradeRow, data)
    ws = await workspace.open_workspace(session, code, actor=actor)
    await workspace.prefetch(ws, [row], graded=[row])
    with workspace.rejecting():
        result = await upsert_grade(ws, row)
    await workspace.finish(ws)
    plan = sitting(ws, row)
    learner = ws.learners[row.id_number]
    enrolment = ws.enrolments[(learner.id, plan.programme_id)]
    grade = ws.grades[(enrolment.id, plan.module_id, plan.term_id)]
    return result, GradeInContext(grade, enrolment, learner, plan.programme, plan.module, plan.term)


def check_etag(g: Grade, if_match: str | None) -> None:
    if if_match is None:
        raise PreconditionRequired("Send If-Match with the grade's ETag so a concurrent change is not overwritten.")
    if if_match.strip() not in (etag(g), "*"):
        raise PreconditionFailed(f"The grade was changed by someone else (now {etag(g)}); reload it and retry.", current_etag=etag(g))


async def correct_grade(session: AsyncSession, ctx: GradeInContext, components: dict[str, Any], reason: str, if_match: str | None, *,
                        actor: str) -> Grade:
    """The grade with new component scores (``If-Match`` its ETag), audited with the reason."""
    g = ctx.grade
    check_etag(g, if_match)
    data = {"id_number": ctx.learner.id_number, "programme_code": ctx.programme.code, "module_code": ctx.module.code,
            "term_code": ctx.term.code, "components": components, "reason": reason}
    await enter_grade(session, g.institution_code, data, actor=actor)
    await session.refresh(g)
    return g


async def remove_grade(session: AsyncSession, ctx: GradeInContext, if_match: str | None, reason: str, *, actor: str) -> None:
    """Deletes a grade entered in error (``If-Match`` its ETag), audited with the reason."""
    g = ctx.grade
    check_etag(g, if_match)
    row = validated(GradeDelete, {"id_number": ctx.learner.id_number, "programme_code": ctx.programme.code,
                                  "module_code": ctx.module.code, "term_code": ctx.term.code})
    ws = await workspace.open_workspace(session, g.institution_code, actor=actor)
    await workspace.prefetch(ws, [row], graded=[row])
    with workspace.rejecting():
        await delete_grade(ws, row, reason)
    await workspace.finish(ws)


async def history(session: AsyncSession, grade_id: uuid.UUID) -> tuple[list[GradeAudit], Grade | None]:
    """Every change of a grade (oldest first), and the grade if it still exists."""
    return await repository.audits(session, grade_id), await repository.grade(session, grade_id)


# -- an enrolment's record -------------------------------------------------------------------------------------------
@dataclass
class EnrolmentRecord:
    enrolment: Enrolment
    programme: Programme
    policy: GradingPolicy
    modules: dict[str, Module]
    grades: list[tuple[Grade, Module, Term]]
    standing: Standing
    term_gpas: dict[str, str | None]


async def policy_for(session: AsyncSession, programme: Programme) -> GradingPolicy:
    row = await repository.policy_row(session, programme.grading_policy_code)
    return GradingPolicy.from_dict(row.rules) if row else DEFAULT_POLICY


async def record_of(session: AsyncSession, enrolment: Enrolment) -> EnrolmentRecord:
    programme = await repository.programme(session, enrolment.programme_id)
    if programme is None:
        raise NotFound("The enrolment's programme is gone.")
    policy = await policy_for(session, programme)
    modules = {m.code: m for m in await repository.modules_of(session, programme.id)}
    grades = await repository.grades_of(session, enrolment.id)
    sittings = [ModuleResult(m.code, m.credits, g.score, m.is_condition, t.code) for g, m, t in grades]
    # modules recognised from prior learning (credit transfer, RPL) stand in for their sittings
    recognised = [Recognised(r.module_code, r.source_label, Decimal(r.score) if r.score is not None else None, r.in_gpa)
                  for r in await recognitions.recognised_of(session, enrolment.id)]
    st = standing(policy, {c: (m.credits, m.is_condition) for c, m in modules.items()}, sittings, recognised)
    terms = sorted({t.code for _, _, t in grades})
    term_gpas = {code: (str(v) if (v := term_gpa(policy, sittings, code)) is not None else None) for code in terms}
    return EnrolmentRecord(enrolment, programme, policy, modules, grades, st, term_gpas)
