"""The rules of practical assessment: tasks with rubrics, enterprise assessors invited per exam, judgements with an
audit trail of every change, moderation of double marking, and evidence files."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.common.text import nfc
from services.learning.assessment import access
from services.learning.assessment.exams import repository as exams_repository
from services.learning.assessment.exams import service as exams
from services.learning.assessment.exams.service import iso
from services.learning.assessment.practical import repository, rubric
from services.learning.assessment.practical.schemas import (
    AssessingRead,
    AuditRead,
    InvitationCreate,
    InvitationRead,
    JudgementIn,
    JudgementsRead,
    OutcomeRead,
    ScoreRead,
    TaskCreate,
)
from services.learning.models import (
    AssessorInvitation,
    Blob,
    Exam,
    ExamCandidate,
    PracticalEvidence,
    PracticalScore,
    PracticalScoreAudit,
    PracticalTask,
)

#: evidence files one candidate may have on one task; tasks of one exam; invitations of one exam
MAX_EVIDENCE = 50
MAX_TASKS = 20
MAX_INVITATIONS = 50


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def invitation_read(inv: AssessorInvitation) -> InvitationRead:
    return InvitationRead(id=inv.id, exam_id=inv.exam_id, name=inv.name, organisation=inv.organisation, created_at=inv.created_at,
                          expires_at=inv.expires_at, accepted_at=inv.accepted_at, accepted_by=inv.account_sub, revoked_at=inv.revoked_at)


# --- tasks --------------------------------------------------------------------------------------------------------


async def add_task(session: AsyncSession, principal: Principal, exam_id: uuid.UUID, body: TaskCreate) -> PracticalTask:
    exam, _ = await exams.load_exam(session, principal, exam_id, lock=True)
    if exam.kind != "practical":
        raise Conflict("Tasks belong to practical exams.")
    if exam.status != "draft":
        raise Conflict("A published exam's tasks and rubrics are fixed: candidates are judged against them.")
    if await repository.next_position(session, exam.id) > MAX_TASKS:
        raise Conflict(f"A practical exam has at most {MAX_TASKS} tasks.")
    stored, max_points = rubric.build(body.rubric.criteria)
    if max_points <= 0:
        raise ValidationFailed("A rubric needs points to give.", errors=[{"field": "rubric.criteria", "message": "every level is worth 0 points"}])
    task = PracticalTask(id=uuid.uuid4(), exam_id=exam.id, position=await repository.next_position(session, exam.id), title=nfc(body.title),
                         instructions=nfc(body.instructions), rubric=_nfc_rubric(stored), max_points=max_points, pass_mark=body.pass_mark,
                         assessors_required=body.assessors_required, moderation_threshold=body.moderation_threshold)
    session.add(task)
    await session.flush()
    return task


def _nfc_rubric(stored: dict[str, Any]) -> dict[str, Any]:
    for c in stored["criteria"]:
        c["title"] = nfc(c["title"])
        for level in c["levels"]:
            level["title"] = nfc(level["title"])
    return stored


async def tasks(session: AsyncSession, principal: Principal, exam_id: uuid.UUID) -> list[PracticalTask]:
    exam, _ = await exams.load_exam(session, principal, exam_id, roles=("manager", "assessor", "learner"))
    return await repository.tasks(session, exam.id)


async def _task(session: AsyncSession, principal: Principal, task_id: uuid.UUID, roles: tuple[str, ...]) -> tuple[PracticalTask, Exam, str]:
    task = await session.get(PracticalTask, task_id)
    if task is None:
        raise access.not_found("task", task_id)
    try:
        exam, role = await exams.load_exam(session, principal, task.exam_id, roles=roles)
    except NotFound:
        raise access.not_found("task", task_id) from None
    return task, exam, role


async def _candidate(session: AsyncSession, exam: Exam, candidate_id: uuid.UUID) -> ExamCandidate:
    candidate = await exams_repository.candidate(session, candidate_id)
    if candidate is None or candidate.exam_id != exam.id:
        raise access.not_found("candidate", candidate_id)
    return candidate


# --- enterprise assessors -----------------------------------------------------------------------------------------


async def invite(session: AsyncSession, principal: Principal, exam_id: uuid.UUID, body: InvitationCreate, now: datetime,
                 default_days: int) -> tuple[AssessorInvitation, str]:
    exam, _ = await exams.load_exam(session, principal, exam_id)
    if len(await exams_repository.invitations(session, exam.id)) >= MAX_INVITATIONS:
        raise Conflict(f"An exam has at most {MAX_INVITATIONS} invitations.")
    code = secrets.token_urlsafe(24)
    inv = AssessorInvitation(id=uuid.uuid4(), exam_id=exam.id, name=nfc(body.name), organisation=nfc(body.organisation), code_hash=_hash(code),
                             invited_by=access.actor(principal), created_at=now,
                             expires_at=now + timedelta(days=body.valid_days or default_days))
    session.add(inv)
    await session.flush()
    return inv, code


async def invitations(session: AsyncSession, principal: Principal, exam_id: uuid.UUID) -> list[AssessorInvitation]:
    exam, _ = await exams.load_exam(session, principal, exam_id)
    return await exams_repository.invitations(session, exam.id)


async def revoke(session: AsyncSession, principal: Principal, invitation_id: uuid.UUID, now: datetime) -> AssessorInvitation:
    inv = await session.get(AssessorInvitation, invitation_id)
    if inv is None:
        raise access.not_found("invitation", invitation_id)
    try:
        await exams.load_exam(session, principal, inv.exam_id)
    except NotFound:
        raise access.not_found("invitation", invitation_id) from None
    if inv.revoked_at is None:
        inv.revoked_at, inv.revoked_by = now, access.actor(principal)
        await session.flush()
    return inv


async def accept(session: AsyncSession, principal: Principal, code: str, now: datetime) -> AssessorInvitation:
    """The invited assessor, signed in with their own account, takes the invitation: from now on that account may
    assess that exam (and only it)."""
    if principal.kind != "user":
        raise Forbidden("An invitation is accepted by a person's account.")
    inv = await exams_repository.invitation_by_hash(session, _hash(code))
    if inv is None:
        raise NotFound("No invitation has this code.")
    if inv.account_sub == principal.sub:
        return inv
    if inv.revoked_at is not None:
        raise Conflict("This invitation was withdrawn.", field="code")
    if inv.account_sub is not None:
        raise Conflict("This invitation was accepted already.", field="code")
    if now >= inv.expires_at:
        raise Conflict(f"This invitation expired at {iso(inv.expires_at)}.", field="code")
    inv.account_sub, inv.accepted_at = principal.sub, now
    await session.flush()
    return inv


async def assessing(session: AsyncSession, principal: Principal) -> list[AssessingRead]:
    if principal.kind != "user":
        return []
    out = []
    for inv in await exams_repository.invitations_of(session, principal.sub):
        exam = await session.get(Exam, inv.exam_id)
        if exam is not None:
            out.append(AssessingRead(exam_id=exam.id, title=exam.title, institution_code=exam.institution_code, invitation_id=inv.id,
                                     organisation=inv.organisation))
    return out


# --- judgements ---------------------------------------------------------------------------------------------------


def _snapshot(score: PracticalScore) -> dict[str, Any]:
    return {"levels": dict(score.levels), "points": score.points, "comment": score.comment}


async def judge(session: AsyncSession, principal: Principal, task_id: uuid.UUID, candidate_id: uuid.UUID, body: JudgementIn,
                now: datetime, *, as_moderator: bool = False) -> PracticalScore:
    task, exam, role = await _task(session, principal, task_id, ("manager",) if as_moderator else ("manager", "assessor"))
    if exam.status != "published":
        raise Conflict("Candidates are judged once the exam is published.")
    candidate = await _candidate(session, exam, candidate_id)
    points = sum(rubric.judge(task.rubric, body.levels).values())
    others = await repository.scores(session, [task.id], [candidate.id])
    me = access.actor(principal)
    released = exam.results_released_at is not None
    if as_moderator:
        if any(s.role == "assessor" and s.assessor == me for s in others):
            raise Forbidden("An assessor of this candidate does not moderate their own judgement.")
        outcome = _outcome(task, others)
        if outcome.status != "needs_moderation" and not any(s.role == "moderator" for s in others):
            raise Conflict(f"Moderation is for two judgements further apart than {task.moderation_threshold} points "
                           f"(this one is {outcome.status}).", outcome_status=outcome.status)
        if body.reason is None:
            raise ValidationFailed("A moderator says why.", errors=[{"field": "reason", "message": "required when moderating"}])
    elif released and body.reason is None:
        raise ValidationFailed("The results are released: a changed score says why.", errors=[{"field": "reason", "message": "required once released"}])
    score = await repository.score_for_update(session, task.id, candidate.id, me, "moderator" if as_moderator else "assessor")
    old = _snapshot(score) if score is not None else None
    if score is None:
        if not as_moderator and len({s.assessor for s in others if s.role == "assessor"}) >= task.assessors_required:
            raise Conflict(f"This task takes {task.assessors_required} assessor(s), who have judged this candidate already.")
        score = PracticalScore(id=uuid.uuid4(), task_id=task.id, candidate_id=candidate.id, assessor=me,
                               role="moderator" if as_moderator else "assessor", levels={}, points=0.0, version=0, created_at=now)
        session.add(score)
    score.levels, score.points, score.comment = dict(body.levels), points, nfc(body.comment) if body.comment else None
    score.version, score.updated_at = score.version + 1, now
    if old is not None and old == _snapshot(score):
        score.version -= 1  # the same judgement again: nothing changed, nothing audited
        await session.flush()
        return score
    await session.flush()
    session.add(PracticalScoreAudit(id=uuid.uuid4(), task_id=task.id, candidate_id=candidate.id, score_id=score.id, version=score.version, actor=me,
                                    role=score.role, old=old, new=_snapshot(score), reason=nfc(body.reason) if body.reason else None, at=now))
    await session.flush()
    return score


def _outcome(task: PracticalTask, scores: list[PracticalScore]) -> rubric.Outcome:
    assessors = [rubric.judge(task.rubric, s.levels) for s in scores if s.role == "assessor"]
    moderator = next((rubric.judge(task.rubric, s.levels) for s in scores if s.role == "moderator"), None)
    return rubric.outcome(task.rubric, task.max_points, task.pass_mark, task.assessors_required, task.moderation_threshold,
                          assessors, moderator)


async def judgements(session: AsyncSession, principal: Principal, task_id: uuid.UUID, candidate_id: uuid.UUID) -> JudgementsRead:
    task, exam, role = await _task(session, principal, task_id, ("manager", "assessor"))
    candidate = await _candidate(session, exam, candidate_id)
    scores = await repository.scores(session, [task.id], [candidate.id])
    o = _outcome(task, scores)
    me = access.actor(principal)
    teacher = role == "manager"
    shown = [s for s in scores if teacher or s.assessor == me]
    outcome = OutcomeRead(status=o.status, max_points=task.max_points)
    if teacher:
        outcome = OutcomeRead(status=o.status, points=o.points, max_points=task.max_points, percent=o.percent, passed=o.passed,
                              criteria=o.criteria, critical_failed=list(o.critical_failed), difference=o.difference)
    audit = [AuditRead.model_validate(a) for a in await repository.audit(session, task.id, candidate.id)] if teacher else []
    return JudgementsRead(task_id=task.id, candidate_id=candidate.id, scores=[ScoreRead.model_validate(s) for s in shown],
                          outcome=outcome, audit=audit)


# --- evidence -----------------------------------------------------------------------------------------------------


async def evidence_target(session: AsyncSession, principal: Principal, task_id: uuid.UUID, candidate_id: uuid.UUID, now: datetime) -> None:
    """Before evidence streams: the candidate (during their window) or the exam's teachers and assessors, while the
    results are not released; a bounded number of files."""
    task, exam, role = await _task(session, principal, task_id, ("manager", "assessor", "learner"))
    candidate = await _candidate(session, exam, candidate_id)
    if role == "learner":
        if not access.is_learner(principal, candidate.person_id, candidate.account_sub):
            raise access.not_found("candidate", candidate_id)
        closes = exam.closes_at + timedelta(minutes=candidate.extra_minutes)
        if exam.status != "published" or not exam.opens_at <= now < closes:
            raise exams.WindowClosed("Evidence is handed in while the exam's window is open.", opens_at=iso(exam.opens_at),
                                     closes_at=iso(closes))
    if exam.results_released_at is not None:
        raise Conflict("The results are released: the evidence is closed.")
    if await repository.evidence_count(session, task.id, candidate.id) >= MAX_EVIDENCE:
        raise Conflict(f"A candidate has at most {MAX_EVIDENCE} evidence files per task.")


async def add_evidence(session: AsyncSession, principal: Principal, task_id: uuid.UUID, candidate_id: uuid.UUID, blob_id: uuid.UUID,
                       filename: str | None, content_type: str, size: int, note: str | None, now: datetime) -> PracticalEvidence:
    await evidence_target(session, principal, task_id, candidate_id, now)
    row = PracticalEvidence(id=uuid.uuid4(), task_id=task_id, candidate_id=candidate_id, blob_id=blob_id, filename=filename,
                            content_type=content_type, size=size, note=nfc(note) if note else None, uploaded_by=access.actor(principal),
                            uploaded_at=now)
    session.add(row)
    await session.flush()
    return row


async def _may_see_evidence(session: AsyncSession, principal: Principal, task_id: uuid.UUID, candidate_id: uuid.UUID) -> tuple[PracticalTask, ExamCandidate]:
    task, exam, role = await _task(session, principal, task_id, ("manager", "assessor", "learner"))
    candidate = await _candidate(session, exam, candidate_id)
    if role == "learner" and not access.is_learner(principal, candidate.person_id, candidate.account_sub):
        raise access.not_found("candidate", candidate_id)
    return task, candidate


async def evidence(session: AsyncSession, principal: Principal, task_id: uuid.UUID, candidate_id: uuid.UUID) -> list[PracticalEvidence]:
    task, candidate = await _may_see_evidence(session, principal, task_id, candidate_id)
    return await repository.evidence(session, task.id, candidate.id)


async def evidence_item(session: AsyncSession, principal: Principal, evidence_id: uuid.UUID) -> tuple[PracticalEvidence, Blob]:
    row = await session.get(PracticalEvidence, evidence_id)
    if row is None:
        raise access.not_found("evidence", evidence_id)
    try:
        await _may_see_evidence(session, principal, row.task_id, row.candidate_id)
    except NotFound:
        raise access.not_found("evidence", evidence_id) from None
    blob = await session.get(Blob, row.blob_id)
    assert blob is not None
    return row, blob

