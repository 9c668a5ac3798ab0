"""The rules of exams: creation and publication (the blueprint frozen into a pool), rosters and accommodations,
attempts timed on the server, scoring (automatic, then by people for essays and files), the re-sit policy, and
results shown to learners only once released.

Timing: an attempt's deadline is the earlier of its start + duration + the learner's extra minutes and the window's
close + those extra minutes. An answer or a hand-in after the deadline is refused (409 ``exam-deadline-passed``);
what was saved before it is what the attempt is scored on, as ``expired``, whenever it is next read."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.errors import AppError, Conflict, Forbidden, ValidationFailed
from services.common.pagination import Page, PageParams
from services.common.permissions import person_id_of
from services.common.text import nfc
from services.learning.assessment import access
from services.learning.assessment.exams import forms, repository
from services.learning.assessment.exams.schemas import (
    AccommodationIn,
    AttemptRead,
    AttemptSummary,
    CandidateRead,
    ExamCreate,
    ExamRead,
    ExamUpdate,
    GradeIn,
    MyResult,
    ResponseRead,
    ResultRead,
    RosterAdd,
    SubmitIn,
)
from services.learning.assessment.items import kinds
from services.learning.assessment.items import repository as items_repository
from services.learning.assessment.items import service as items_service
from services.learning.assessment.items.schemas import MANUAL_KINDS
from services.learning.assessment.practical import repository as practical_repository
from services.learning.assessment.practical import rubric
from services.learning.lti import outcomes as lti_outcomes
from services.learning.models import Blob, Exam, ExamAttempt, ExamCandidate, ExamResponse, Item, PracticalTask

ENDED = ("submitted", "expired", "graded")
#: learners on one exam's roster (a cohort sitting together, however large)
MAX_CANDIDATES = 5000


class DeadlinePassed(AppError):
    status, title, slug = 409, "Deadline passed", "exam-deadline-passed"


class AttemptClosed(AppError):
    status, title, slug = 409, "Attempt closed", "exam-attempt-closed"


class WindowClosed(AppError):
    status, title, slug = 409, "Exam window closed", "exam-window-closed"


def iso(moment: datetime) -> str:
    """A time as the API writes it everywhere (RFC 3339, UTC as ``Z``)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def score_10(percent: float | None) -> str | None:
    """A percentage on the 10-point scale, one decimal, half up (83.35 % → 8.3; 84.5 % → 8.5)."""
    if percent is None:
        return None
    return str((Decimal(str(percent)) / 10).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def exam_read(exam: Exam) -> ExamRead:
    return ExamRead.model_validate(exam).model_copy(update={"form_length": sum(int(r["count"]) for r in exam.blueprint)})


# --- who the caller is to an exam ---------------------------------------------------------------------------------


async def role_in(session: AsyncSession, principal: Principal, exam: Exam) -> str | None:
    """manager | assessor | learner | None."""
    if access.manages(principal, exam.institution_code):
        return "manager"
    if principal.kind == "user" and exam.id in await repository.invited_exams(session, principal.sub):
        return "assessor"
    if await repository.candidate_of(session, exam.id, person_id_of(principal), principal.sub) is not None:
        return "learner"
    return None


async def load_exam(session: AsyncSession, principal: Principal, exam_id: uuid.UUID, *, roles: Sequence[str] = ("manager",),
                    lock: bool = False) -> tuple[Exam, str]:
    """The exam and the caller's role in it; 404 to those with no role, 403 to those without one of ``roles``."""
    exam = await repository.exam(session, exam_id, lock=lock)
    role = await role_in(session, principal, exam) if exam is not None else None
    if exam is None or role is None:
        raise access.not_found("exam", exam_id)
    if role not in roles:
        raise Forbidden({"manager": "Only teachers of the exam's institution may do this.",
                         "assessor": "Assessors score; the exam is managed by the teachers of its institution.",
                         "learner": "Learners sit exams; they do not manage them."}[role])
    return exam, role


# --- creating and publishing --------------------------------------------------------------------------------------


def _kind_fields(kind: str, values: dict[str, Any]) -> None:
    if kind == "written":
        if values.get("duration_minutes") is None:
            raise ValidationFailed("A written exam is timed.", errors=[{"field": "duration_minutes", "message": "required for a written exam"}])
        return
    for field in ("bank_ids", "blueprint"):
        if values.get(field):
            raise ValidationFailed("A practical exam is made of tasks.", errors=[{"field": field, "message": "a practical exam draws no items"}])
    if values.get("duration_minutes") is not None:
        raise ValidationFailed("A practical exam is not timed by the server.",
                               errors=[{"field": "duration_minutes", "message": "not for a practical exam"}])


async def _check_banks(session: AsyncSession, principal: Principal, institution: str, bank_ids: list[uuid.UUID]) -> None:
    found = await items_repository.banks_by_ids(session, bank_ids)
    errors = []
    for i, bank_id in enumerate(bank_ids):
        bank = found.get(bank_id)
        if bank is None or not access.may_read_bank(principal, bank.scope):
            errors.append({"field": f"bank_ids.{i}", "message": "no such item bank"})
        elif not access.may_draw_from(institution, bank.scope):
            errors.append({"field": f"bank_ids.{i}", "message": f"an exam of {institution} draws from national banks and its own"})
    if len(set(bank_ids)) != len(bank_ids):
        errors.append({"field": "bank_ids", "message": "a bank is listed twice"})
    if errors:
        raise ValidationFailed("Some item banks cannot be used.", errors=errors)


async def create_exam(session: AsyncSession, principal: Principal, body: ExamCreate) -> Exam:
    institution = access.home_institution(principal, body.institution_code)
    _kind_fields(body.kind, body.model_dump())
    await _check_banks(session, principal, institution, body.bank_ids)
    exam = Exam(id=uuid.uuid4(), institution_code=institution, kind=body.kind, title=nfc(body.title), occupation_code=body.occupation_code,
                module_code=body.module_code, bank_ids=[str(b) for b in body.bank_ids],
                blueprint=[r.model_dump() for r in body.blueprint], opens_at=body.opens_at, closes_at=body.closes_at,
                duration_minutes=body.duration_minutes, max_attempts=body.max_attempts, score_policy=body.score_policy,
                pass_mark=body.pass_mark, shuffle_options=body.shuffle_options, status="draft", form_secret=secrets.token_hex(32),
                created_by=access.actor(principal))
    session.add(exam)
    await session.flush()
    return exam


async def update_exam(session: AsyncSession, principal: Principal, exam_id: uuid.UUID, body: ExamUpdate) -> Exam:
    exam, _ = await load_exam(session, principal, exam_id, lock=True)
    changes = body.model_dump(exclude_unset=True)
    if exam.status != "draft":
        frozen = sorted(set(changes) - {"title", "closes_at"})
        if frozen:
            raise Conflict("A published exam changes only its title and a later close.", field=frozen[0],
                           errors=[{"field": f, "message": "fixed once the exam is published"} for f in frozen])
        if "closes_at" in changes and changes["closes_at"] is not None and changes["closes_at"] < exam.closes_at:
            raise Conflict("A published exam's window is only ever extended.",
                           errors=[{"field": "closes_at", "message": "may not move earlier once published"}])
    for field, value in changes.items():
        if value is None:
            raise ValidationFailed(f"{field} cannot be null.", errors=[{"field": field, "message": "may not be null"}])
    values = {"duration_minutes": exam.duration_minutes, "bank_ids": exam.bank_ids, "blueprint": exam.blueprint} | changes
    _kind_fields(exam.kind, values)
    if "bank_ids" in changes:
        await _check_banks(session, principal, exam.institution_code, changes["bank_ids"])
        changes["bank_ids"] = [str(b) for b in changes["bank_ids"]]
    opens, closes = changes.get("opens_at", exam.opens_at), changes.get("closes_at", exam.closes_at)
    if closes <= opens:
        raise ValidationFailed("The window closes after it opens.", errors=[{"field": "closes_at", "message": "must be after opens_at"}])
    for field, value in changes.items():
        setattr(exam, field, nfc(value) if isinstance(value, str) else value)
    await session.flush()
    return exam


async def publish(session: AsyncSession, principal: Principal, exam_id: uuid.UUID, now: datetime, min_responses: int) -> Exam:
    exam, _ = await load_exam(session, principal, exam_id, lock=True)
    if exam.status == "published":
        return exam
    if exam.kind == "written":
        if not exam.blueprint or not exam.bank_ids:
            field = "blueprint" if not exam.blueprint else "bank_ids"
            raise ValidationFailed("A written exam needs banks and a blueprint to draw from.",
                                   errors=[{"field": field, "message": "required to publish"}])
        candidates = await items_repository.active_items(session, [uuid.UUID(b) for b in exam.bank_ids])
        pool, short = forms.freeze_pool(exam.blueprint, candidates, lambda i: items_service.band_of(i, min_responses))
        if short:
            raise ValidationFailed("The banks do not hold enough items for the blueprint.", errors=[
                {"field": f"blueprint.{s.row}.count", "message": f"{s.available} active item(s) fit this row, {s.wanted} wanted"}
                for s in short])
        exam.pool = pool
    elif not await practical_repository.tasks(session, exam.id):
        raise ValidationFailed("A practical exam needs a task.", errors=[{"field": "tasks", "message": "add a task before publishing"}])
    exam.status, exam.published_at = "published", now
    await session.flush()
    return exam


async def list_exams(session: AsyncSession, principal: Principal, page: PageParams, kind: str | None, status: str | None) -> Page[Any]:
    invited = await repository.invited_exams(session, principal.sub) if principal.kind == "user" else set()
    return await repository.exams(session, access.managed_institutions(principal), invited, page, kind=kind, status=status,
                                  transform=exam_read)


# --- roster -------------------------------------------------------------------------------------------------------


async def add_learners(session: AsyncSession, principal: Principal, exam_id: uuid.UUID, body: RosterAdd, now: datetime) -> tuple[list[ExamCandidate], int]:
    exam, _ = await load_exam(session, principal, exam_id, lock=True)
    rows: dict[str, Any] = {}
    for learner in body.learners:
        person = str(learner.person_id) if learner.person_id else None
        rows.setdefault(access.learner_key(person, learner.account), (person, learner))
    existing = await repository.candidates_by_keys(session, exam.id, list(rows))
    new = len(rows) - len(existing)
    if new and await repository.count_candidates(session, exam.id) + new > MAX_CANDIDATES:
        raise Conflict(f"An exam's roster holds at most {MAX_CANDIDATES} learners.", errors=[
            {"field": "learners", "message": f"at most {MAX_CANDIDATES} on one roster; split the cohort into exams"}])
    out, added = [], 0
    for key, (person, learner) in rows.items():
        candidate = existing.get(key)
        if candidate is None:
            candidate = ExamCandidate(id=uuid.uuid4(), exam_id=exam.id, learner_key=key, person_id=person, account_sub=learner.account,
                                      full_name=nfc(learner.full_name), extra_minutes=learner.extra_minutes,
                                      accommodation_note=None, added_by=access.actor(principal), added_at=now)
            session.add(candidate)
            added += 1
        out.append(candidate)
    await session.flush()
    return out, added


async def roster(session: AsyncSession, principal: Principal, exam_id: uuid.UUID, page: PageParams) -> Page[Any]:
    exam, _ = await load_exam(session, principal, exam_id, roles=("manager", "assessor"))
    return await repository.roster(session, exam.id, page, transform=CandidateRead.model_validate)


async def _candidate_in(session: AsyncSession, exam: Exam, candidate_id: uuid.UUID) -> ExamCandidate:
    candidate = await repository.candidate(session, candidate_id)
    if candidate is None or candidate.exam_id != exam.id:
        raise access.not_found("candidate", candidate_id)
    return candidate


async def accommodate(session: AsyncSession, principal: Principal, exam_id: uuid.UUID, candidate_id: uuid.UUID,
                      body: AccommodationIn) -> ExamCandidate:
    """Extra time for a learner; an attempt already running gets it too (never less than it had)."""
    exam, _ = await load_exam(session, principal, exam_id, lock=True)
    candidate = await _candidate_in(session, exam, candidate_id)
    candidate.extra_minutes, candidate.accommodation_note = body.extra_minutes, nfc(body.note)
    for attempt in await repository.attempts_of(session, candidate.id):
        if attempt.status == "in_progress":
            attempt.deadline_at = max(attempt.deadline_at, deadline_of(exam, candidate, attempt.started_at))
    await session.flush()
    return candidate


async def remove_candidate(session: AsyncSession, principal: Principal, exam_id: uuid.UUID, candidate_id: uuid.UUID) -> None:
    exam, _ = await load_exam(session, principal, exam_id, lock=True)
    candidate = await _candidate_in(session, exam, candidate_id)
    if await repository.count_attempts(session, candidate.id) or await practical_repository.scores(
            session, [t.id for t in await practical_repository.tasks(session, exam.id)], [candidate.id]):
        raise Conflict("This learner has sat or been assessed: kept on the roster for the record.")
    await session.delete(candidate)


# --- attempts -----------------------------------------------------------------------------------------------------


def deadline_of(exam: Exam, candidate: ExamCandidate, started_at: datetime) -> datetime:
    extra = timedelta(minutes=candidate.extra_minutes)
    return min(started_at + timedelta(minutes=exam.duration_minutes or 0) + extra, exam.closes_at + extra)


async def _form_items(session: AsyncSession, attempt: ExamAttempt) -> dict[uuid.UUID, Item]:
    return await items_repository.items_by_ids(session, [uuid.UUID(e["item_id"]) for e in attempt.form])


def _rescore(attempt: ExamAttempt, exam: Exam, items: dict[uuid.UUID, Item], responses: dict[uuid.UUID, ExamResponse], now: datetime) -> None:
    """Points and status of an ended attempt from its responses: ``graded`` once every response is scored."""
    max_points = sum(items[uuid.UUID(e["item_id"])].points for e in attempt.form)
    pending = [r for r in responses.values() if r.credit is None]
    attempt.max_points = float(max_points)
    attempt.points = round(sum(r.points_awarded or 0.0 for r in responses.values()), 2)
    if pending:
        attempt.status, attempt.score, attempt.passed, attempt.graded_at = ("submitted" if attempt.status == "graded" else attempt.status,
                                                                          None, None, None)
        return
    attempt.score = round(100.0 * attempt.points / max_points, 2) if max_points else 0.0
    attempt.passed = attempt.score + 1e-9 >= exam.pass_mark
    attempt.status, attempt.graded_at = "graded", attempt.graded_at or now


async def _end(session: AsyncSession, attempt: ExamAttempt, exam: Exam, status: str, at: datetime) -> None:
    """Hand in (``submitted``) or close (``expired``) an attempt: every item of its form gets a response (unanswered
    ones score nothing), automatic kinds are scored, and the attempt is graded when nothing is left to a person."""
    items = await _form_items(session, attempt)
    responses = await repository.responses(session, attempt.id)
    for entry in attempt.form:
        item = items[uuid.UUID(entry["item_id"])]
        response = responses.get(item.id)
        if response is None:
            response = ExamResponse(id=uuid.uuid4(), attempt_id=attempt.id, item_id=item.id, answer=None, changes=0)
            session.add(response)
            responses[item.id] = response
        if item.kind in MANUAL_KINDS:
            if response.answer is None and response.blob_id is None:
                response.credit, response.points_awarded = 0.0, 0.0  # nothing to mark
        else:
            credit = kinds.credit(item, response.answer)
            response.credit, response.points_awarded = credit, round((credit or 0.0) * item.points, 4)
    attempt.status, attempt.ended_at = status, at
    _rescore(attempt, exam, items, responses, at)
    await session.flush()


async def expire_if_due(session: AsyncSession, attempt: ExamAttempt, exam: Exam, now: datetime) -> bool:
    if attempt.status == "in_progress" and now > attempt.deadline_at:
        await _end(session, attempt, exam, "expired", attempt.deadline_at)
        return True
    return False


async def expire_overdue(session: AsyncSession, exam: Exam, now: datetime) -> None:
    for attempt in await repository.overdue_attempts(session, exam.id, now):
        await _end(session, attempt, exam, "expired", attempt.deadline_at)


async def start_attempt(session: AsyncSession, principal: Principal, exam_id: uuid.UUID, now: datetime) -> tuple[ExamAttempt, bool]:
    exam = await repository.exam(session, exam_id)
    candidate = await repository.candidate_of(session, exam_id, person_id_of(principal), principal.sub) if exam else None
    if exam is None or candidate is None or exam.status != "published":
        if exam is not None and await role_in(session, principal, exam) in ("manager", "assessor"):
            raise Conflict("Only learners on the roster sit the exam." if exam.status == "published" else "The exam is not published yet.")
        raise access.not_found("exam", exam_id)
    if exam.kind != "written":
        raise Conflict("A practical exam is not sat online: assessors score its tasks.")
    candidate = await repository.candidate(session, candidate.id, lock=True)  # two starts at once: one waits for the other
    assert candidate is not None
    attempts = await repository.attempts_of(session, candidate.id)
    for attempt in attempts:
        await expire_if_due(session, attempt, exam, now)
        if attempt.status == "in_progress":
            return attempt, False
    extra = timedelta(minutes=candidate.extra_minutes)
    if now < exam.opens_at:
        raise WindowClosed(f"The exam opens at {iso(exam.opens_at)}.", opens_at=iso(exam.opens_at))
    if now >= exam.closes_at + extra:
        raise WindowClosed(f"The exam closed at {iso(exam.closes_at + extra)}.", closes_at=iso(exam.closes_at + extra))
    if len(attempts) >= exam.max_attempts:
        raise Conflict(f"All {exam.max_attempts} attempt(s) of this exam are used.", max_attempts=exam.max_attempts)
    number = len(attempts) + 1
    seed = forms.form_seed(exam.form_secret, candidate.learner_key, number)
    pool_ids = [uuid.UUID(i) for row in (exam.pool or []) for i in row]
    by_id = {str(k): v for k, v in (await items_repository.items_by_ids(session, pool_ids)).items()}
    form = forms.draw(exam.pool or [], exam.blueprint, by_id, seed, exam.shuffle_options)
    attempt = ExamAttempt(id=uuid.uuid4(), exam_id=exam.id, candidate_id=candidate.id, number=number, form=form, form_seed=seed,
                          status="in_progress", started_at=now, deadline_at=deadline_of(exam, candidate, now), max_points=0.0)
    session.add(attempt)
    await session.flush()
    return attempt, True


async def load_attempt(session: AsyncSession, principal: Principal, attempt_id: uuid.UUID, now: datetime, *,
                       lock: bool = False) -> tuple[ExamAttempt, Exam, ExamCandidate, str]:
    """The attempt, its exam and candidate, and the caller's role (the learner, or the exam's teachers and
    assessors); an overdue attempt is closed first."""
    attempt = await repository.attempt(session, attempt_id, lock=lock)
    exam = await repository.exam(session, attempt.exam_id) if attempt else None
    candidate = await repository.candidate(session, attempt.candidate_id) if attempt else None
    if attempt is None or exam is None or candidate is None:
        raise access.not_found("attempt", attempt_id)
    if access.is_learner(principal, candidate.person_id, candidate.account_sub):
        role = "learner"
    else:
        role = await role_in(session, principal, exam) or ""
        if role not in ("manager", "assessor"):
            raise access.not_found("attempt", attempt_id)
    await expire_if_due(session, attempt, exam, now)
    return attempt, exam, candidate, role


def _ensure_open(attempt: ExamAttempt, now: datetime) -> None:
    if now > attempt.deadline_at:
        raise DeadlinePassed(f"The attempt's deadline ({iso(attempt.deadline_at)}) has passed: answers are no longer accepted.",
                             deadline_at=iso(attempt.deadline_at), attempt_status=attempt.status)
    if attempt.status != "in_progress":
        raise AttemptClosed(f"This attempt is {attempt.status}: answers are no longer accepted.", attempt_status=attempt.status)


async def _learner_attempt(session: AsyncSession, principal: Principal, attempt_id: uuid.UUID, now: datetime) -> tuple[ExamAttempt, Exam]:
    attempt, exam, _, role = await load_attempt(session, principal, attempt_id, now, lock=True)
    if role != "learner":
        raise Forbidden("Only the learner answers in an attempt.")
    _ensure_open(attempt, now)
    return attempt, exam


def _form_item(attempt: ExamAttempt, item_id: uuid.UUID, field: str = "item_id") -> dict[str, Any]:
    entry: dict[str, Any] | None = next((e for e in attempt.form if e["item_id"] == str(item_id)), None)
    if entry is None:
        raise ValidationFailed("That item is not in this attempt's form.", errors=[{"field": field, "message": "not an item of this attempt"}])
    return entry


async def _record_answer(session: AsyncSession, attempt: ExamAttempt, item: Item, answer: Any, now: datetime, *,
                         blob_id: uuid.UUID | None = None, filename: str | None = None) -> ExamResponse:
    responses = await repository.responses(session, attempt.id)
    response = responses.get(item.id)
    if response is None:
        response = ExamResponse(id=uuid.uuid4(), attempt_id=attempt.id, item_id=item.id, changes=0, first_answered_at=now)
        session.add(response)
    response.answer, response.answered_at, response.changes = answer, now, response.changes + 1
    response.first_answered_at = response.first_answered_at or now
    if blob_id is not None:
        response.blob_id, response.filename = blob_id, filename
    repository.add_event(session, attempt.id, item.id, answer, now)
    await session.flush()
    return response


async def answer(session: AsyncSession, principal: Principal, attempt_id: uuid.UUID, item_id: uuid.UUID, given: Any, now: datetime) -> ExamResponse:
    attempt, _ = await _learner_attempt(session, principal, attempt_id, now)
    _form_item(attempt, item_id)
    item = (await items_repository.items_by_ids(session, [item_id]))[item_id]
    kinds.check_answer(item, given)
    return await _record_answer(session, attempt, item, nfc(given) if isinstance(given, str) else given, now)


async def file_answer_target(session: AsyncSession, principal: Principal, attempt_id: uuid.UUID, item_id: uuid.UUID, now: datetime) -> Item:
    """Before a file answer streams: the learner's open attempt holds this file item (checked again after)."""
    attempt, _ = await _learner_attempt(session, principal, attempt_id, now)
    _form_item(attempt, item_id)
    item = (await items_repository.items_by_ids(session, [item_id]))[item_id]
    if item.kind != "file_upload":
        raise ValidationFailed("This item takes an answer, not a file.", errors=[{"field": "item_id", "message": f"a {item.kind} item"}])
    return item


async def file_answer(session: AsyncSession, principal: Principal, attempt_id: uuid.UUID, item_id: uuid.UUID, blob_id: uuid.UUID,
                      filename: str | None, content_type: str, size: int, now: datetime) -> ExamResponse:
    attempt, _ = await _learner_attempt(session, principal, attempt_id, now)
    item = (await items_repository.items_by_ids(session, [item_id]))[item_id]
    return await _record_answer(session, attempt, item, {"file": filename, "content_type": content_type, "size": size}, now,
                                blob_id=blob_id, filename=filename)


async def submit(session: AsyncSession, principal: Principal, attempt_id: uuid.UUID, body: SubmitIn, now: datetime) -> ExamAttempt:
    attempt, exam = await _learner_attempt(session, principal, attempt_id, now)
    if body.answers:
        items = await _form_items(session, attempt)
        strangers = [k for k in body.answers if k not in items]
        if strangers:
            raise ValidationFailed("Answers name items that are not in this attempt.",
                                   errors=[{"field": f"answers.{k}", "message": "not an item of this attempt"} for k in strangers])
        for item_id, given in body.answers.items():
            kinds.check_answer(items[item_id], given, field=f"answers.{item_id}")
            await _record_answer(session, attempt, items[item_id], nfc(given) if isinstance(given, str) else given, now)
    await _end(session, attempt, exam, "submitted", now)
    return attempt


async def grade(session: AsyncSession, principal: Principal, attempt_id: uuid.UUID, item_id: uuid.UUID, body: GradeIn, now: datetime) -> ExamAttempt:
    """A teacher's or an assessor's score of an essay or file answer; the attempt is graded when none is left."""
    attempt, exam, _, role = await load_attempt(session, principal, attempt_id, now, lock=True)
    if role == "learner":
        raise Forbidden("Learners do not score their own answers.")
    if attempt.status not in ENDED:
        raise Conflict("The attempt is still running: it is scored once handed in or closed.")
    _form_item(attempt, item_id)
    items = await _form_items(session, attempt)
    item = items[item_id]
    if item.kind not in MANUAL_KINDS:
        raise Conflict(f"A {item.kind} item is scored automatically.")
    if body.points > item.points:
        raise ValidationFailed("More points than the item has.", errors=[{"field": "points", "message": f"at most {item.points}"}])
    responses = await repository.responses(session, attempt.id)
    response = responses[item_id]
    response.points_awarded, response.credit = round(body.points, 4), body.points / item.points
    response.comment, response.graded_by, response.graded_at = (nfc(body.comment) if body.comment else None), access.actor(principal), now
    _rescore(attempt, exam, items, responses, now)
    await session.flush()
    return attempt


async def attempt_read(session: AsyncSession, attempt: ExamAttempt, exam: Exam, role: str) -> AttemptRead:
    items = await _form_items(session, attempt)
    responses = await repository.responses(session, attempt.id)
    visible = role != "learner" or exam.results_released_at is not None
    shown = [kinds.shown(items[uuid.UUID(e["item_id"])], e) for e in attempt.form]
    rows = []
    for entry in attempt.form:
        r = responses.get(uuid.UUID(entry["item_id"]))
        if r is None:
            continue
        row = ResponseRead(item_id=r.item_id, answer=r.answer, filename=r.filename, first_answered_at=r.first_answered_at,
                           answered_at=r.answered_at, changes=r.changes)
        if visible:
            row = row.model_copy(update={"points_awarded": r.points_awarded, "credit": r.credit, "comment": r.comment,
                                         "graded_by": r.graded_by if role != "learner" else None})
        rows.append(row)
    out = AttemptRead(id=attempt.id, exam_id=attempt.exam_id, candidate_id=attempt.candidate_id, number=attempt.number,
                      status=attempt.status, started_at=attempt.started_at, deadline_at=attempt.deadline_at, ended_at=attempt.ended_at,
                      items=shown, responses=rows, scores_visible=visible)
    if visible:
        out = out.model_copy(update={"points": attempt.points, "max_points": attempt.max_points or None, "score": attempt.score,
                                     "passed": attempt.passed,
                                     "pending": sum(1 for r in responses.values() if r.credit is None) if attempt.status in ENDED else None})
    return out


# --- results ------------------------------------------------------------------------------------------------------


def _summary(attempt: ExamAttempt, visible: bool) -> AttemptSummary:
    return AttemptSummary(id=attempt.id, number=attempt.number, status=attempt.status, started_at=attempt.started_at,
                          ended_at=attempt.ended_at, score=attempt.score if visible else None, passed=attempt.passed if visible else None)


def counted(exam: Exam, attempts: list[ExamAttempt]) -> tuple[str, ExamAttempt | None]:
    """The re-sit policy: which attempt's score counts (``highest`` of the graded ones, or the ``latest``), and
    whether the result is complete, pending (an attempt still to score) or absent (never sat)."""
    if not attempts:
        return "absent", None
    graded = [a for a in attempts if a.status == "graded"]
    if exam.score_policy == "latest":
        latest = attempts[-1]
        return ("complete", latest) if latest.status == "graded" else ("pending", None)
    if any(a.status != "graded" for a in attempts):
        return "pending", max(graded, key=lambda a: a.score or 0.0) if graded else None
    return "complete", max(graded, key=lambda a: (a.score or 0.0, -a.number))


async def practical_outcomes(session: AsyncSession, exam: Exam, candidate_ids: Sequence[uuid.UUID]) -> tuple[list[PracticalTask], dict[tuple[uuid.UUID, uuid.UUID], rubric.Outcome]]:
    tasks = await practical_repository.tasks(session, exam.id)
    scores = await practical_repository.scores(session, [t.id for t in tasks], candidate_ids) if tasks else []
    out = {}
    for task in tasks:
        for cid in candidate_ids:
            mine = [s for s in scores if s.task_id == task.id and s.candidate_id == cid]
            assessors = [rubric.judge(task.rubric, s.levels) for s in mine if s.role == "assessor"]
            moderator = next((rubric.judge(task.rubric, s.levels) for s in mine if s.role == "moderator"), None)
            out[(task.id, cid)] = rubric.outcome(task.rubric, task.max_points, task.pass_mark, task.assessors_required,
                                                 task.moderation_threshold, assessors, moderator)
    return tasks, out


def practical_result(tasks: list[PracticalTask], outcomes: dict[tuple[uuid.UUID, uuid.UUID], rubric.Outcome], candidate_id: uuid.UUID) -> tuple[str, float | None, bool | None, list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    for task in tasks:
        o = outcomes[(task.id, candidate_id)]
        rows.append({"task_id": str(task.id), "title": task.title, "status": o.status, "points": o.points, "max_points": task.max_points,
                     "percent": o.percent, "passed": o.passed, "critical_failed": list(o.critical_failed)})
    if all(r["status"] == "unscored" for r in rows):
        return "absent", None, None, rows
    if any(r["status"] != "final" for r in rows):
        return "pending", None, None, rows
    total = sum(t.max_points for t in tasks)
    percent = round(100.0 * sum(r["points"] for r in rows) / total, 2) if total else 0.0
    return "complete", percent, all(r["passed"] for r in rows), rows


async def results(session: AsyncSession, principal: Principal, exam_id: uuid.UUID, now: datetime, page: PageParams) -> Page[Any]:
    exam, _ = await load_exam(session, principal, exam_id, roles=("manager", "assessor"))
    await expire_overdue(session, exam, now)
    candidates_page = await repository.roster(session, exam.id, page)
    candidates = list(candidates_page.items)
    ids = [c.id for c in candidates]
    rows = []
    if exam.kind == "written":
        attempts = await repository.attempts_of_candidates(session, ids)
        for c in candidates:
            status, chosen = counted(exam, attempts[c.id])
            score = chosen.score if chosen is not None and status == "complete" else None
            rows.append(ResultRead(candidate=CandidateRead.model_validate(c), attempts=[_summary(a, True) for a in attempts[c.id]],
                                   status=status, score=score, score_10=score_10(score),
                                   passed=chosen.passed if chosen is not None and status == "complete" else None))
    else:
        tasks, outcomes = await practical_outcomes(session, exam, ids)
        for c in candidates:
            status, percent, passed, task_rows = practical_result(tasks, outcomes, c.id)
            rows.append(ResultRead(candidate=CandidateRead.model_validate(c), tasks=task_rows, status=status, score=percent,
                                   score_10=score_10(percent), passed=passed))
    return Page[Any](items=rows, next_cursor=candidates_page.next_cursor)


async def result_of(session: AsyncSession, exam: Exam, candidate: ExamCandidate, now: datetime) -> tuple[str, float | None, bool | None]:
    """(status, percent, passed) of one candidate by the exam's policy — what a gradebook takes (and what a score
    pass-back would send)."""
    if exam.kind == "written":
        attempts = await repository.attempts_of(session, candidate.id)
        for attempt in attempts:
            await expire_if_due(session, attempt, exam, now)
        status, chosen = counted(exam, attempts)
        if status != "complete" or chosen is None:
            return status, None, None
        return status, chosen.score, chosen.passed
    tasks, outcomes = await practical_outcomes(session, exam, [candidate.id])
    status, percent, passed, _ = practical_result(tasks, outcomes, candidate.id)
    return status, percent, passed


async def my_result(session: AsyncSession, principal: Principal, exam_id: uuid.UUID, now: datetime) -> MyResult:
    exam, _ = await load_exam(session, principal, exam_id, roles=("learner",))
    candidate = await repository.candidate_of(session, exam.id, person_id_of(principal), principal.sub)
    assert candidate is not None
    released = exam.results_released_at is not None
    attempts = await repository.attempts_of(session, candidate.id)
    for attempt in attempts:
        await expire_if_due(session, attempt, exam, now)
    out = MyResult(exam_id=exam.id, title=exam.title, released=released, attempts=[_summary(a, released) for a in attempts],
                   attempts_left=max(0, exam.max_attempts - len(attempts)) if exam.kind == "written" else 0)
    if released:
        status, percent, passed = await result_of(session, exam, candidate, now)
        tasks: list[dict[str, Any]] = []
        if exam.kind == "practical":
            ptasks, outcomes = await practical_outcomes(session, exam, [candidate.id])
            tasks = practical_result(ptasks, outcomes, candidate.id)[3]
        out = out.model_copy(update={"score": percent, "score_10": score_10(percent), "passed": passed, "tasks": tasks})
    return out


async def release(session: AsyncSession, principal: Principal, exam_id: uuid.UUID, now: datetime) -> Exam:
    """Công bố kết quả: learners see their scores from now on. Refused while an attempt runs or waits for a person's
    score, or a practical task's judgement is incomplete; the items' statistics are recomputed."""
    exam, _ = await load_exam(session, principal, exam_id, lock=True)
    if exam.status != "published":
        raise Conflict("Only a published exam's results are released.")
    if exam.kind == "written":
        await expire_overdue(session, exam, now)
        counts = await repository.attempt_counts(session, exam.id)
        if counts.get("in_progress") or counts.get("submitted") or counts.get("expired"):
            raise Conflict("Some attempts are still running or wait for a teacher's score.",
                           running=counts.get("in_progress", 0), to_score=counts.get("submitted", 0) + counts.get("expired", 0))
    else:
        candidates = await repository.all_candidates(session, exam.id)
        _, outcomes = await practical_outcomes(session, exam, [c.id for c in candidates])
        waiting = [o.status for o in outcomes.values() if o.status in ("pending", "needs_moderation")]
        if waiting:
            raise Conflict("Some practical judgements are incomplete (an assessor's score missing, or moderation needed).",
                           pending=waiting.count("pending"), needs_moderation=waiting.count("needs_moderation"))
    if exam.results_released_at is None:
        exam.results_released_at, exam.released_by = now, access.actor(principal)
    await _report_to_platforms(session, exam, now)
    if exam.kind == "written" and exam.pool:
        ids = [uuid.UUID(i) for row in exam.pool for i in row]
        await items_service.refresh_statistics(session, list((await items_repository.items_by_ids(session, ids)).values()), now)
    await session.flush()
    return exam


async def report_result(session: AsyncSession, exam: Exam, candidate: ExamCandidate, now: datetime) -> int:
    """LTI score pass-back (AGS): a released, complete result to the line items of the learner's launches; nothing
    before the release. Returns how many scores were queued (none when queued before)."""
    if exam.results_released_at is None:
        return 0
    status, percent, _ = await result_of(session, exam, candidate, now)
    if status != "complete" or percent is None:
        return 0
    return await lti_outcomes.exam_result_released(session, exam.id, candidate.id, percent, now)


async def _report_to_platforms(session: AsyncSession, exam: Exam, now: datetime) -> None:
    """At the release, in its transaction: the results of learners who came through a school's LMS are queued for
    it (none for a release rolled back; a release again queues only what changed)."""
    candidates = await repository.all_candidates(session, exam.id)
    reported = await lti_outcomes.exam_candidates_reported(session, [c.id for c in candidates])
    for candidate in candidates:
        if candidate.id in reported:
            await report_result(session, exam, candidate, now)


async def join_from_platform(session: AsyncSession, exam: Exam, learner_key: str, full_name: str, added_by: str,
                             now: datetime) -> ExamCandidate:
    """A learner launched into the exam from their school's LMS (LTI) goes on its roster at their first launch,
    with no extra time (their teachers add an accommodation as for anyone on the roster)."""
    candidate = await repository.candidate_of(session, exam.id, None, learner_key)
    if candidate is None:
        if await repository.count_candidates(session, exam.id) + 1 > MAX_CANDIDATES:
            raise Conflict(f"An exam's roster holds at most {MAX_CANDIDATES} learners; this one is full.")
        await repository.add_candidate_once(session, {
            "id": uuid.uuid4(), "exam_id": exam.id, "learner_key": learner_key, "person_id": None, "account_sub": learner_key,
            "full_name": nfc(full_name)[:300], "extra_minutes": 0, "accommodation_note": None, "added_by": added_by, "added_at": now})
        candidate = await repository.candidate_of(session, exam.id, None, learner_key)
        assert candidate is not None
    return candidate


async def my_exams(session: AsyncSession, principal: Principal, page: PageParams) -> Page[Any]:
    return await repository.exams_of_learner(session, person_id_of(principal), principal.sub, page, transform=exam_read)


async def response_file(session: AsyncSession, principal: Principal, attempt_id: uuid.UUID, item_id: uuid.UUID,
                        now: datetime) -> tuple[ExamResponse, Blob]:
    attempt, _, _, _ = await load_attempt(session, principal, attempt_id, now)
    response = (await repository.responses(session, attempt.id)).get(item_id)
    if response is None or response.blob_id is None:
        raise access.not_found("file answer to item", item_id)
    blob = await session.get(Blob, response.blob_id)
    assert blob is not None
    return response, blob


async def answer_log(session: AsyncSession, principal: Principal, attempt_id: uuid.UUID, now: datetime) -> list[dict[str, Any]]:
    """Every answer the learner gave, in order, with its time (teachers and assessors)."""
    attempt, _, _, role = await load_attempt(session, principal, attempt_id, now)
    if role == "learner":
        raise Forbidden("The answer log is for the exam's teachers.")
    return [{"item_id": e.item_id, "answer": e.answer, "at": e.at} for e in await repository.events(session, attempt.id)]
