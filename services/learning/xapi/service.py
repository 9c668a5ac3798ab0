"""The LRS: stores statements (one query for known ids, one bulk insert per batch), voids, answers queries with
keyset paging (``more``), and feeds lesson progress from statements about course lessons.

Voiding (verb ``http://adlnet.gov/expapi/verbs/voided``, xAPI 1.0.3 §2.2.7) is open to the authority that stored the
statement (and to those who see every statement). A voided statement that had completed a lesson of an enrolment
undoes that lesson's completion, unless an API call (progress, SCORM runtime) completed it too or another statement
not voided still completes it — and unless the course is completed already: a course completion and its certificate
stand whatever is voided later (the answer names such enrolments in ``X-Course-Completion-Stands``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import utcnow
from services.common.errors import Conflict, NotFound
from services.common.pagination import decode_cursor, encode_cursor
from services.learning.courses import access
from services.learning.courses import service as courses
from services.learning.models import Course, CourseEnrolment, XapiStatement
from services.learning.xapi import validation
from services.learning.xapi.auth import HOME_PAGE, Caller
from services.learning.xapi.validation import Invalid, bad_request

VERSION = "1.0.3"
MAX_LIMIT = 500
COMPLETING = {"http://adlnet.gov/expapi/verbs/completed", "http://adlnet.gov/expapi/verbs/passed",
              "http://adlnet.gov/expapi/verbs/mastered"}
OPENING = {"http://adlnet.gov/expapi/verbs/experienced", "http://adlnet.gov/expapi/verbs/launched",
           "http://adlnet.gov/expapi/verbs/initialized", "http://adlnet.gov/expapi/verbs/attempted",
           "http://adlnet.gov/expapi/verbs/progressed", "http://adlnet.gov/expapi/verbs/terminated"}


@dataclass
class Stored:
    ids: list[uuid.UUID]
    #: (enrolment, lesson) whose completion voiding undid
    lessons_reopened: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)
    #: enrolments whose course is completed, so voiding left their lessons and completion as they were
    completions_stand: list[uuid.UUID] = field(default_factory=list)


def completes(verb_id: str, statement: dict[str, Any]) -> bool:
    result = statement.get("result")
    return verb_id in COMPLETING or (isinstance(result, dict) and result.get("completion") is True)


def _authority(caller: Caller) -> dict[str, Any]:
    return {"objectType": "Agent", "account": {"homePage": HOME_PAGE, "name": caller.authority}}


async def store(session: AsyncSession, outbox: Any, caller: Caller, statements: list[Any], *, put_id: uuid.UUID | None = None,
                batch: bool = False) -> Stored:
    """Validates every statement first (400 naming the property, nothing stored), then stores the new ones. A
    statement whose id is stored already is a no-op if identical and a 409 otherwise."""
    keys: list[dict[str, Any]] = []
    errors: list[Invalid] = []
    for i, raw in enumerate(statements):
        try:
            keys.append(validation.validate(raw, str(i) if batch else ""))
        except Invalid as exc:
            errors.append(exc)
    if errors:
        raise bad_request(errors)
    now = utcnow()
    ids: list[uuid.UUID] = []
    for k in keys:
        if put_id is not None:
            if k["id"] is not None and k["id"] != put_id:
                raise bad_request(Invalid("id", "differs from the statementId parameter"))
            k["id"] = put_id
        k["id"] = k["id"] or uuid.uuid4()
        ids.append(k["id"])
    if len(set(ids)) != len(ids):
        raise bad_request(Invalid("id", "the same statement id twice in one batch"))
    prints = [validation.fingerprint(raw) for raw in statements]
    known = {row.id: row.fingerprint for row in (await session.execute(
        select(XapiStatement.id, XapiStatement.fingerprint).where(XapiStatement.id.in_(ids)))).all()}
    for sid, fp in zip(ids, prints, strict=True):
        if sid in known and known[sid] != fp:
            raise Conflict(f"Statement {sid} is stored already with other content.", statement_id=str(sid))
    # voiding: the targets must exist and not be voiding statements themselves
    targets = {k["voids"] for k, sid in zip(keys, ids, strict=True) if k["voids"] is not None and sid not in known}
    if targets:
        found = {row.id: row for row in (await session.execute(
            select(XapiStatement.id, XapiStatement.verb_id, XapiStatement.authority_sub).where(XapiStatement.id.in_(targets)))).all()}
        for t in targets:
            if t not in found or not _visible(caller, found[t]):
                raise bad_request(Invalid("object.id", f"statement {t} to void is not stored here"))
            if found[t].verb_id == validation.VOIDED:
                raise bad_request(Invalid("object.id", "a voiding statement cannot be voided"))
    rows = []
    fresh: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for raw, k, sid, fp in zip(statements, keys, ids, prints, strict=True):
        if sid in known:
            continue
        stored = dict(raw)
        stored["id"] = str(sid)
        stored["stored"] = now.isoformat()
        stored.setdefault("timestamp", now.isoformat())
        stored["authority"] = _authority(caller)
        stored["version"] = raw.get("version", "1.0.0")
        rows.append({"id": sid, "stored": now, "timestamp": k["timestamp"] or now, "actor_key": k["actor_key"],
                     "verb_id": k["verb_id"], "activity_id": k["activity_id"], "registration": k["registration"],
                     "voided": False, "voids": k["voids"], "authority_sub": caller.authority, "statement": stored,
                     "fingerprint": fp})
        fresh.append((raw, k))
    if rows:
        await session.execute(insert(XapiStatement), rows)
    if targets:
        await session.execute(update(XapiStatement).where(XapiStatement.id.in_(targets)).values(voided=True))
    outcome = Stored(ids=ids)
    undo = await _completions_voided(session, targets) if targets else {}
    # one ordered lock over every enrolment this request touches (fed or undone), so two never wait on each other
    await _feed_progress(session, outbox, caller, fresh, also_lock=set(undo))
    if undo:
        await _undo_voided(session, undo, outcome)
    return outcome


async def _feed_progress(session: AsyncSession, outbox: Any, caller: Caller, fresh: list[tuple[dict[str, Any], dict[str, Any]]],
                         also_lock: set[uuid.UUID]) -> None:
    """Statements about a course lesson, in a registration (= enrolment) of the learner who reports it, count as
    lesson progress: completed / passed verbs (or ``result.completion``) complete it, others open it."""
    relevant: dict[tuple[uuid.UUID, uuid.UUID], tuple[str, int]] = {}
    fed_by: dict[tuple[uuid.UUID, uuid.UUID], list[uuid.UUID]] = {}
    for raw, k in fresh:
        lesson_id = courses.lesson_id_of_activity(k["activity_id"])
        if lesson_id is None:
            continue
        registration = k["registration"] or (caller.launch.enrolment_id if caller.launch else None)
        if registration is None:
            continue
        result = raw.get("result") or {}
        completed = completes(k["verb_id"], raw)
        if not completed and k["verb_id"] not in OPENING:
            continue
        fed_by.setdefault((registration, lesson_id), []).append(k["id"])
        # a batch's statements about one lesson count as one change: completed if any completes it, times added
        before_event, before_seconds = relevant.get((registration, lesson_id), ("opened", 0))
        relevant[(registration, lesson_id)] = ("completed" if completed else before_event,
                                               before_seconds + validation.duration_seconds(result.get("duration")))
    if not relevant and not also_lock:
        return
    # the same lock the API's progress calls take, in one order: concurrent reports of one enrolment serialise
    stmt = select(CourseEnrolment).where(CourseEnrolment.id.in_({r for r, _ in relevant} | also_lock)).order_by(CourseEnrolment.id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    enrolments = {e.id: e for e in (await session.scalars(stmt)).all()}
    fed: dict[uuid.UUID, list[uuid.UUID]] = {}
    for (registration, lesson_id), (event, seconds) in relevant.items():
        enrolment = enrolments.get(registration)
        if enrolment is None or enrolment.status == "withdrawn":
            continue
        if caller.launch is not None:
            if caller.launch.enrolment_id != enrolment.id:
                continue
        elif caller.principal is None or not access.owns(caller.principal, enrolment):
            continue
        course = await session.get(Course, enrolment.course_id)
        if course is not None and await courses.apply_progress(session, outbox, enrolment, course, lesson_id, event, seconds,
                                                               strict=False, by_api=False) is not None:
            fed.setdefault(enrolment.id, []).extend(fed_by[(registration, lesson_id)])
    for enrolment_id, statement_ids in fed.items():  # which enrolment each statement fed: what voiding it undoes
        await session.execute(update(XapiStatement).where(XapiStatement.id.in_(statement_ids)).values(enrolment_id=enrolment_id))


async def _completions_voided(session: AsyncSession, targets: set[uuid.UUID]) -> dict[uuid.UUID, set[uuid.UUID]]:
    """The lessons, by enrolment, that the voided statements had completed."""
    rows = (await session.execute(
        select(XapiStatement.enrolment_id, XapiStatement.activity_id, XapiStatement.verb_id, XapiStatement.statement)
        .where(XapiStatement.id.in_(targets), XapiStatement.enrolment_id.is_not(None)))).all()
    undo: dict[uuid.UUID, set[uuid.UUID]] = {}
    for row in rows:
        lesson_id = courses.lesson_id_of_activity(row.activity_id)
        if lesson_id is not None and completes(row.verb_id, row.statement):
            undo.setdefault(row.enrolment_id, set()).add(lesson_id)
    return undo


async def _undo_voided(session: AsyncSession, undo: dict[uuid.UUID, set[uuid.UUID]], outcome: Stored) -> None:
    """Undo each voided lesson completion that no API call and no remaining statement supports (the course's own
    completion stands). The enrolments are locked already (by :func:`_feed_progress`)."""
    stmt = select(CourseEnrolment).where(CourseEnrolment.id.in_(set(undo))).order_by(CourseEnrolment.id)
    for enrolment in (await session.scalars(stmt)).all():
        lessons = undo[enrolment.id]
        if enrolment.completed_at is not None:
            outcome.completions_stand.append(enrolment.id)
            continue
        remaining = (await session.execute(
            select(XapiStatement.activity_id, XapiStatement.verb_id, XapiStatement.statement).where(
                XapiStatement.enrolment_id == enrolment.id, XapiStatement.voided.is_(False),
                XapiStatement.activity_id.in_([courses.activity_id(x) for x in lessons])))).all()
        evidence = {courses.lesson_id_of_activity(r.activity_id) for r in remaining if completes(r.verb_id, r.statement)}
        for lesson_id in await courses.undo_lesson_completions(session, enrolment, lessons, {x for x in evidence if x}):
            outcome.lessons_reopened.append((enrolment.id, lesson_id))


async def one(session: AsyncSession, caller: Caller, statement_id: uuid.UUID, *, voided: bool) -> dict[str, Any]:
    row = await session.get(XapiStatement, statement_id)
    if row is None or row.voided != voided or not _visible(caller, row):
        raise NotFound(f"No {'voided ' if voided else ''}statement {statement_id}.")
    return row.statement


def _visible(caller: Caller, row: Any) -> bool:
    """Whether the caller sees ``row`` (a statement, or a row of its columns holding ``authority_sub``)."""
    return caller.sees_all or row.authority_sub == caller.authority


async def query(session: AsyncSession, caller: Caller, *, agent: str | None, verb: str | None, activity: str | None,
                registration: uuid.UUID | None, since: datetime | None, until: datetime | None, limit: int, ascending: bool,
                cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """Statements (voided ones left out) newest first unless ``ascending``; the cursor for ``more``."""
    stmt = select(XapiStatement).where(XapiStatement.voided.is_(False))
    if not caller.sees_all:
        stmt = stmt.where(XapiStatement.authority_sub == caller.authority)
    if agent is not None:
        stmt = stmt.where(XapiStatement.actor_key == agent)
    if verb is not None:
        stmt = stmt.where(XapiStatement.verb_id == verb)
    if activity is not None:
        stmt = stmt.where(XapiStatement.activity_id == activity)
    if registration is not None:
        stmt = stmt.where(XapiStatement.registration == registration)
    if since is not None:
        stmt = stmt.where(XapiStatement.stored > since)
    if until is not None:
        stmt = stmt.where(XapiStatement.stored <= until)
    if cursor:
        stored, sid = decode_cursor(cursor, 2)
        if not isinstance(stored, datetime) or not isinstance(sid, uuid.UUID):
            raise bad_request(Invalid("cursor", "use the more link of a previous page"))
        if ascending:
            stmt = stmt.where(or_(XapiStatement.stored > stored, and_(XapiStatement.stored == stored, XapiStatement.id > sid)))
        else:
            stmt = stmt.where(or_(XapiStatement.stored < stored, and_(XapiStatement.stored == stored, XapiStatement.id < sid)))
    order = (XapiStatement.stored.asc(), XapiStatement.id.asc()) if ascending else (XapiStatement.stored.desc(), XapiStatement.id.desc())
    rows = list((await session.scalars(stmt.order_by(*order).limit(limit + 1))).all())
    more = None
    if len(rows) > limit:
        rows = rows[:limit]
        more = encode_cursor([rows[-1].stored, rows[-1].id])
    return [r.statement for r in rows], more
