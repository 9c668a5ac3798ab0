"""The rules of gradebooks: components checked against the module's weights in records, each learner's component
scores (exam results by the exam's re-sit policy, or entered), the module score by records' rules, and the hand-off
to records — one grade per learner, entered through records' API by learning's own client. Sending again what was
sent changes nothing: unchanged rows are not sent, and a repeat of a call carries the same ``Idempotency-Key``."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.db import Database
from services.common.errors import Conflict, ValidationFailed
from services.common.pagination import Page, PageParams
from services.common.text import nfc
from services.learning.assessment import access
from services.learning.assessment.exams import repository as exams_repository
from services.learning.assessment.exams import service as exams
from services.learning.assessment.gradebook import repository, rules
from services.learning.assessment.gradebook.records import RecordsClient
from services.learning.assessment.gradebook.schemas import (
    ComponentRead,
    GradebookCreate,
    GradebookLearnerIn,
    GradebookRead,
    GradebookRow,
    GradebookSummary,
    RecordsState,
    ScoresIn,
    SendResult,
    SentRow,
)
from services.learning.models import Exam, Gradebook, GradebookLearner


def _text(value: Decimal) -> str:
    """A score as records writes it: plain decimal notation, no exponent, no trailing zeros (7.50 → 7.5, 9.0 → 9,
    10 → 10), so the same score is the same text on both sides."""
    return format(value.normalize(), "f")


async def _learners_of_exam(session: AsyncSession, principal: Principal, exam_id: uuid.UUID) -> list[GradebookLearnerIn]:
    exam, _ = await exams.load_exam(session, principal, exam_id)
    return [GradebookLearnerIn(person_id=uuid.UUID(c.person_id) if c.person_id else None, account=c.account_sub, full_name=c.full_name)
            for c in await exams_repository.all_candidates(session, exam.id)]


async def create(session: AsyncSession, principal: Principal, body: GradebookCreate, records: RecordsClient) -> Gradebook:
    institution = access.home_institution(principal, body.institution_code)
    keys = [c.key for c in body.components]
    if len(set(keys)) != len(keys):
        raise ValidationFailed("A component is listed twice.", errors=[{"field": "components", "message": "keys must differ"}])
    errors = []
    for i, c in enumerate(body.components):
        if c.exam_id is not None:
            exam = await exams_repository.exam(session, c.exam_id)
            if exam is None or exam.institution_code != institution:
                errors.append({"field": f"components.{i}.exam_id", "message": f"no exam of {institution} with this id"})
    if errors:
        raise ValidationFailed("Some components name exams that cannot be used.", errors=errors)
    programme = await records.programme(institution, body.programme_code)
    module = next((m for m in programme.get("modules", []) if m["code"] == body.module_code), None)
    if module is None:
        raise ValidationFailed(f"Module {body.module_code} is not in programme {body.programme_code}.",
                               errors=[{"field": "module_code", "message": f"not a module of {body.programme_code} in records"}])
    weighed = module.get("weights") or programme["weights"]
    mine = {c.key: c.weight for c in body.components}
    if not rules.weights_equal(mine, weighed):
        wanted = ", ".join(f"{k} {v}" for k, v in sorted(weighed.items()))
        raise ValidationFailed(f"Records weighs module {body.module_code} as {wanted}: the components must be the same.",
                               errors=[{"field": "components", "message": f"records weighs this module {wanted}"}])
    if body.term_code not in {t["code"] for t in await records.terms(institution)}:
        raise ValidationFailed(f"Records has no term {body.term_code} at {institution}.",
                               errors=[{"field": "term_code", "message": f"no term {body.term_code} at {institution} in records"}])
    policy = await records.policy(programme["grading_policy_code"])
    book = Gradebook(id=uuid.uuid4(), institution_code=institution, title=nfc(body.title), programme_code=body.programme_code,
                     module_code=body.module_code, term_code=body.term_code,
                     components=[{"key": c.key, "label": nfc(c.label), "weight": str(c.weight), "source": c.source,
                                  "exam_id": str(c.exam_id) if c.exam_id else None} for c in body.components],
                     grading_policy=policy, created_by=access.actor(principal))
    session.add(book)
    await session.flush()
    learners = list(body.learners)
    if body.roster_from_exam is not None:
        learners += await _learners_of_exam(session, principal, body.roster_from_exam)
    await _add(session, book, learners)
    return book


#: learners of one gradebook (a class; every view computes each one's scores)
MAX_LEARNERS = 1000


async def _add(session: AsyncSession, book: Gradebook, learners: list[GradebookLearnerIn]) -> int:
    have = {x.learner_key for x in await repository.learners(session, book.id)}
    keys = {access.learner_key(str(x.person_id) if x.person_id else None, x.account) for x in learners}
    if len(have | keys) > MAX_LEARNERS:
        raise ValidationFailed(f"A gradebook holds at most {MAX_LEARNERS} learners.",
                               errors=[{"field": "learners", "message": f"at most {MAX_LEARNERS} in one gradebook (a class)"}])
    added = 0
    for learner in learners:
        person = str(learner.person_id) if learner.person_id else None
        key = access.learner_key(person, learner.account)
        if key in have:
            continue
        have.add(key)
        session.add(GradebookLearner(id=uuid.uuid4(), gradebook_id=book.id, learner_key=key, person_id=person, account_sub=learner.account,
                                     full_name=nfc(learner.full_name), entered={}, send_status="not_sent"))
        added += 1
    await session.flush()
    return added


async def load(session: AsyncSession, principal: Principal, gradebook_id: uuid.UUID, *, lock: bool = False) -> Gradebook:
    book = await repository.gradebook(session, gradebook_id, lock=lock)
    if book is None or not access.manages(principal, book.institution_code):
        raise access.not_found("gradebook", gradebook_id)
    return book


async def list_gradebooks(session: AsyncSession, principal: Principal, page: PageParams) -> Page[Any]:
    return await repository.gradebooks(session, access.managed_institutions(principal), page, transform=GradebookSummary.model_validate)


async def add_learners(session: AsyncSession, principal: Principal, gradebook_id: uuid.UUID, learners: list[GradebookLearnerIn]) -> Gradebook:
    book = await load(session, principal, gradebook_id, lock=True)
    await _add(session, book, learners)
    return book


async def enter_scores(session: AsyncSession, principal: Principal, gradebook_id: uuid.UUID, body: ScoresIn) -> Gradebook:
    book = await load(session, principal, gradebook_id, lock=True)
    entered = {c["key"] for c in book.components if c["source"] == "entered"}
    learners = {x.id: x for x in await repository.learners(session, book.id)}
    errors = []
    for i, e in enumerate(body.entries):
        if e.learner_id not in learners:
            errors.append({"field": f"entries.{i}.learner_id", "message": "not a learner of this gradebook"})
        elif e.component not in entered:
            errors.append({"field": f"entries.{i}.component", "message": "not an entered component of this gradebook (exam components "
                                                                         "take the exam's result)"})
    if errors:
        raise ValidationFailed("Some scores cannot be entered.", errors=errors)
    for e in body.entries:
        row = learners[e.learner_id]
        scores = dict(row.entered)
        if e.score is None:
            scores.pop(e.component, None)
        else:
            scores[e.component] = _text(e.score)
        row.entered = scores
    await session.flush()
    return book


async def _component_scores(session: AsyncSession, book: Gradebook, learners: list[GradebookLearner], now: datetime) -> tuple[dict[uuid.UUID, dict[str, str | None]], dict[str, Exam]]:
    scores: dict[uuid.UUID, dict[str, str | None]] = {x.id: {} for x in learners}
    exams_by_key: dict[str, Exam] = {}
    for c in book.components:
        if c["source"] == "entered":
            for x in learners:
                scores[x.id][c["key"]] = x.entered.get(c["key"])
            continue
        exam = await exams_repository.exam(session, uuid.UUID(c["exam_id"]))
        assert exam is not None
        exams_by_key[c["key"]] = exam
        candidates = await exams_repository.candidates_by_keys(session, exam.id, [x.learner_key for x in learners])
        for x in learners:
            candidate = candidates.get(x.learner_key)
            value = None
            if candidate is not None:
                status, percent, _ = await exams.result_of(session, exam, candidate, now)
                value = _text(Decimal(exams.score_10(percent) or "0")) if status == "complete" else None
            scores[x.id][c["key"]] = value
    return scores, exams_by_key


def _row(book: Gradebook, learner: GradebookLearner, components: dict[str, str | None]) -> GradebookRow:
    missing = [k for k, v in components.items() if v is None]
    row = GradebookRow(learner_id=learner.id, person_id=learner.person_id, account_sub=learner.account_sub, full_name=learner.full_name,
                       components=components, missing=missing,
                       records=RecordsState(status=learner.send_status, grade_id=learner.records_grade_id, score=learner.records_score,
                                            letter=learner.records_letter, passed=learner.records_passed, version=learner.records_version,
                                            sent_at=learner.sent_at, error=learner.send_error))
    if not missing:
        weights = {c["key"]: Decimal(c["weight"]) for c in book.components}
        score = rules.module_score({k: Decimal(str(v)) for k, v in components.items()}, weights)
        letter, passed = rules.letter(book.grading_policy, score)
        row = row.model_copy(update={"module_score": _text(score), "letter": letter, "passed": passed})
    return row


async def read(session: AsyncSession, book: Gradebook, now: datetime) -> GradebookRead:
    learners = await repository.learners(session, book.id)
    scores, exams_by_key = await _component_scores(session, book, learners, now)
    components = [ComponentRead(key=c["key"], label=c["label"], weight=c["weight"], source=c["source"],
                                exam_id=uuid.UUID(c["exam_id"]) if c["exam_id"] else None,
                                released=(exams_by_key[c["key"]].results_released_at is not None) if c["key"] in exams_by_key else None)
                  for c in book.components]
    return GradebookRead(id=book.id, institution_code=book.institution_code, title=book.title, programme_code=book.programme_code,
                         module_code=book.module_code, term_code=book.term_code, grading_policy_code=str(book.grading_policy.get("code", "")),
                         components=components, created_at=book.created_at, rows=[_row(book, x, scores[x.id]) for x in learners])


def _fingerprint(book: Gradebook, learner: GradebookLearner, components: dict[str, str]) -> str:
    data = {"institution": book.institution_code, "programme": book.programme_code, "module": book.module_code, "term": book.term_code,
            "person": learner.person_id, "components": components}
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


async def send(db: Database, principal: Principal, gradebook_id: uuid.UUID, records: RecordsClient, now: datetime) -> SendResult:
    """Gửi điểm sang hồ sơ người học: each complete row becomes a grade in records (created, or updated when it
    changed); rows sent before and unchanged since are not sent again. No transaction is held while records is
    called."""
    async with db.session(write=False) as session:
        book = await load(session, principal, gradebook_id)
        learners = await repository.learners(session, book.id)
        scores, exams_by_key = await _component_scores(session, book, learners, now)
    unreleased = [(i, c) for i, c in enumerate(book.components) if c["key"] in exams_by_key and exams_by_key[c["key"]].results_released_at is None]
    if unreleased:
        raise Conflict("Release the exams' results before their scores go to records.",
                       errors=[{"field": f"components.{i}.exam_id", "message": f"exam “{exams_by_key[c['key']].title}” is not released"}
                               for i, c in unreleased])
    actor = access.actor(principal)
    out: list[SentRow] = []
    updates: dict[uuid.UUID, dict[str, Any]] = {}
    for learner in learners:
        components = scores[learner.id]
        missing = [k for k, v in components.items() if v is None]
        if missing:
            out.append(SentRow(learner_id=learner.id, full_name=learner.full_name, outcome="incomplete",
                               error=f"no score yet for {', '.join(missing)}"))
            continue
        if learner.person_id is None:
            message = "records knows learners by person: this learner is known only by an account"
            out.append(SentRow(learner_id=learner.id, full_name=learner.full_name, outcome="failed", error=message))
            updates[learner.id] = {"send_status": "failed", "send_error": message}
            continue
        sent = {k: str(v) for k, v in components.items()}
        fingerprint = _fingerprint(book, learner, sent)
        if learner.send_status == "sent" and learner.sent_fingerprint == fingerprint:
            out.append(SentRow(learner_id=learner.id, full_name=learner.full_name, outcome="unchanged", score=learner.records_score,
                               letter=learner.records_letter, grade_id=learner.records_grade_id))
            continue
        grade = {"person_id": learner.person_id, "programme_code": book.programme_code, "module_code": book.module_code,
                 "term_code": book.term_code, "components": sent,
                 "reason": f"Sổ điểm “{book.title}” ({book.id}), gửi bởi {actor}"[:500]}
        answer = await records.enter_grade(book.institution_code, grade, f"learning-gradebook:{book.id}:{learner.id}:{fingerprint}")
        if answer.status in (200, 201):
            body = answer.body
            if answer.replayed:
                outcome = "unchanged"  # the first answer to this very request, again
            elif answer.result in ("created", "updated", "unchanged"):
                outcome = answer.result
            else:
                outcome = "created" if answer.status == 201 else "updated"
            out.append(SentRow(learner_id=learner.id, full_name=learner.full_name, outcome=outcome, score=body["score"],
                               letter=body["letter"], grade_id=str(body["id"])))
            updates[learner.id] = {"send_status": "sent", "sent_fingerprint": fingerprint, "sent_at": now, "send_error": None,
                                   "records_grade_id": str(body["id"]), "records_score": body["score"], "records_letter": body["letter"],
                                   "records_passed": body["passed"], "records_version": body["version"]}
        else:
            detail = str(answer.body.get("detail") if isinstance(answer.body, dict) else answer.body)[:1000]
            errors = answer.body.get("errors") if isinstance(answer.body, dict) else None
            out.append(SentRow(learner_id=learner.id, full_name=learner.full_name, outcome="failed", error=detail, errors=errors))
            updates[learner.id] = {"send_status": "failed", "send_error": f"records answered {answer.status}: {detail}"}
    if updates:
        async with db.session(write=True) as session:
            for learner in await repository.learners(session, gradebook_id):
                for field, value in updates.get(learner.id, {}).items():
                    setattr(learner, field, value)
    counts = {k: sum(1 for r in out if r.outcome == k) for k in ("created", "updated", "unchanged", "incomplete", "failed")}
    return SendResult(**counts, items=out)
