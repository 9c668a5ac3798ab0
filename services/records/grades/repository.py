"""Grades in the database: reads, and the set-based writes of a sync on PostgreSQL.

**Set-based writes**: ``COPY``, never a statement per row. Used by sync jobs on PostgreSQL (measured: an order of
magnitude faster than row-by-row ORM writes). Per batch of validated grade rows, each natural key (enrolment,
module, term) at most once:

1. the existing grades of the batch's keys are read **and locked** (``FOR UPDATE``), so their old values, which
   the audit keeps, cannot change under us before commit; rows whose values equal the stored ones are
   ``unchanged`` and go no further;
2. grades with no stored row (a term's first upload: nearly all of them) are ``COPY``'d straight into ``grades``
   and their audit rows (old: none → new, who, why, from which job) straight into ``grade_audit``, under a
   savepoint. A grade another writer inserted for the same key after step 1 makes the ``COPY`` fail on
   ``uq_grade_sitting``: the savepoint is rolled back and those rows go round again from step 1, found and
   locked this time;
3. changed grades are ``COPY``'d into a temporary staging table and applied by one ``INSERT … ON CONFLICT
   (enrolment_id, module_id, term_id) DO UPDATE … WHERE grades.id = EXCLUDED.id AND the values differ RETURNING
   id, version``, which in the same statement writes one ``grade_audit`` row per grade it changed (old → new),
   joining its returned rows to the staged ones by id alone. After a failed step 2, the rows that go round again
   take this statement too (staged as new under a fresh id, as an update under the stored one): a grade inserted
   by another writer meanwhile is left alone by it (``grades.id = EXCLUDED.id``), not returned, and goes round
   again as an update with its old values read and locked — so the audit's ``old`` is always exact;
4. the change-feed entries go to the caller's change log, which writes them with ``COPY`` too.

**Optimistic** (``optimistic=True``, a sync chunk in a transaction of its own): steps 1-2 are replaced by one
``COPY`` of every grade as new, with no read before it and no savepoint. A term's first upload, nearly all of a
national term end, writes its grades that way in one round trip. A grade already stored for one of the keys makes
the ``COPY`` fail on ``uq_grade_sitting``: :class:`GradesExist` is raised, the caller rolls its whole transaction
back (the chunk wrote nothing else that stays) and writes the chunk again the careful way above.

Nothing here commits: it all happens in the caller's transaction, with the chunk's other writes and its
``applied_through``, so a job resumed after a crash never applies a row twice.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
from asyncpg.pgproto.pgproto import UUID as WireUUID
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import utcnow
from services.records.grading.scores import dec
from services.records.models import Enrolment, Grade, GradeAudit, GradingPolicyRow, Learner, Module, Programme, Term

STAGE = "records_grade_stage"
STAGE_COLUMNS = ("id", "enrolment_id", "module_id", "term_id", "components", "score", "letter", "points", "passed",
                 "score_text", "points_text", "reason", "old")
MAX_ROUNDS = 5
#: savepoints (each a subtransaction) one transaction may take for COPYs of new grades; an all_or_nothing job's one
#: transaction writes chunk after chunk, and past 64 subtransactions PostgreSQL's snapshots overflow their cache
#: (every other session's visibility checks then read pg_subtrans), so its later chunks take the staged upsert
MAX_SAVEPOINTS = 32
GRADE_COLUMNS = ("id", "created_at", "updated_at", "institution_code", "enrolment_id", "module_id", "term_id", "components",
                 "score", "letter", "points", "passed", "version")
AUDIT_COLUMNS = ("id", "grade_id", "changed_at", "actor", "source", "sync_job_id", "reason", "old", "new")

_CREATE_STAGE = text(
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE} (id uuid, enrolment_id uuid, module_id uuid, term_id uuid, "
    "components jsonb, score varchar(12), letter varchar(2), points varchar(12), passed boolean, "
    "score_text varchar(12), points_text varchar(12), reason varchar(500), old jsonb) ON COMMIT DELETE ROWS"
)
_LOCK_EXISTING = text(
    "SELECT g.id, g.enrolment_id, g.module_id, g.term_id, g.components, g.score, g.letter, g.points, g.passed "
    "FROM grades AS g JOIN unnest(CAST(:e AS uuid[]), CAST(:m AS uuid[]), CAST(:t AS uuid[])) AS k(e, m, t) "
    "ON g.enrolment_id = k.e AND g.module_id = k.m AND g.term_id = k.t "
    "ORDER BY g.id FOR UPDATE OF g"
)
#: the upsert and, in the same statement, one audit row per grade it created or changed (old → new, who, why)
_UPSERT = text(
    "WITH up AS ("
    " INSERT INTO grades AS g (id, created_at, updated_at, institution_code, enrolment_id, module_id, term_id,"
    " components, score, letter, points, passed, version)"
    " SELECT s.id, :now, :now, :institution, s.enrolment_id, s.module_id, s.term_id,"
    f" s.components, s.score, s.letter, s.points, s.passed, 1 FROM {STAGE} AS s"
    " ON CONFLICT (enrolment_id, module_id, term_id) DO UPDATE SET components = EXCLUDED.components,"
    " score = EXCLUDED.score, letter = EXCLUDED.letter, points = EXCLUDED.points, passed = EXCLUDED.passed,"
    " version = g.version + 1, updated_at = EXCLUDED.updated_at"
    " WHERE g.id = EXCLUDED.id AND (g.components, g.score, g.letter, g.points, g.passed) IS DISTINCT FROM"
    " (EXCLUDED.components, EXCLUDED.score, EXCLUDED.letter, EXCLUDED.points, EXCLUDED.passed)"
    " RETURNING g.id, g.version"
    "), audit AS ("
    " INSERT INTO grade_audit (id, grade_id, changed_at, actor, source, sync_job_id, reason, old, new)"
    " SELECT gen_random_uuid(), up.id, :now, :actor, :source, :job, s.reason, s.old,"
    " jsonb_build_object('components', s.components, 'score', s.score_text, 'letter', s.letter,"
    " 'points', s.points_text, 'passed', s.passed)"
    f" FROM up JOIN {STAGE} AS s ON s.id = up.id"
    ") SELECT id, version FROM up"
)

Key = tuple[uuid.UUID, uuid.UUID, uuid.UUID]


class GradesExist(Exception):
    """An optimistic ``COPY`` of grades as new met a stored grade of one of their keys: the transaction is aborted,
    and the caller writes the chunk again in a new one, reading the stored grades first."""


@dataclass
class PendingGrade:
    """A validated grade row waiting for its batch to be written: its snapshot ``new`` (canonical decimals, as the
    audit keeps it) and the values to store. After the write, ``result`` is created | updated | unchanged."""

    key: Key
    new: dict[str, Any]
    score: str
    points: str
    reason: str | None
    change_key: dict[str, Any]
    result: str = "pending"
    grade_id: uuid.UUID | None = None
    old: dict[str, Any] | None = None
    version: int | None = None
    #: ``new["components"]``, ``new`` (the audit's) and the change-feed key as JSON, made ahead when the row was
    #: validated (a sync validates its next chunk while the current one is being written)
    components_json: str | None = None
    change_json: str | None = None
    new_json: str | None = None


#: the version (4) and variant (RFC 4122) bits of a random UUID, and the random bits kept
_V4_KEEP = int.from_bytes(bytes.fromhex("ffffffffffff0fff3fffffffffffffff"), "big")
_V4_SET = int.from_bytes(bytes.fromhex("00000000000040008000000000000000"), "big")


def fresh_ids(n: int) -> list[uuid.UUID]:
    """``n`` random (version 4) UUIDs from one read of the system's CSPRNG, as the driver's own UUID type (a
    ``uuid.UUID`` it writes without converting). ``uuid.uuid4()`` per row was a sixth of the sync worker's CPU."""
    if n <= 0:
        return []
    keep = int.from_bytes(_V4_KEEP.to_bytes(16, "big") * n, "big")
    put = int.from_bytes(_V4_SET.to_bytes(16, "big") * n, "big")
    raw = ((int.from_bytes(os.urandom(16 * n), "big") & keep) | put).to_bytes(16 * n, "big")
    return [WireUUID(raw[i : i + 16]) for i in range(0, 16 * n, 16)]


def snapshot_json(n: dict[str, Any], components_json: str) -> str:
    """A grade's snapshot (:func:`snapshot`) as JSON, its components given as JSON: the letter through the encoder,
    the numbers as they are (decimal text made by the grading rules)."""
    return (f'{{"components": {components_json}, "score": "{n["score"]}", "letter": {json.dumps(n["letter"])}, '
            f'"points": "{n["points"]}", "passed": {"true" if n["passed"] else "false"}}}')


def snapshot(components: Any, score: Any, letter: str, points: Any, passed: bool) -> dict[str, Any]:
    if isinstance(components, str):
        components = json.loads(components)
    return {"components": dict(components), "score": dec(score), "letter": letter, "points": dec(points), "passed": bool(passed)}


async def _driver(session: AsyncSession) -> Any:
    """The asyncpg connection under the session (its transaction already begun by a statement sent before)."""
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    return raw.driver_connection


async def write_grades(
    session: AsyncSession, pending: list[PendingGrade], *, institution_code: str, actor: str, source: str,
    job_id: uuid.UUID | None, stage_empty: bool = False, copy_new: bool = True, optimistic: bool = False,
) -> tuple[bool, bool]:
    """Applies ``pending`` (distinct keys) in the session's transaction, audited; sets each one's ``result``
    (created | updated | unchanged), ``grade_id``, ``version`` and ``old``. ``stage_empty``: the staging table
    was not used yet in this transaction (it empties itself at every commit), so it needs no ``TRUNCATE``.
    ``copy_new``: new grades may be COPY'd under a savepoint (:data:`MAX_SAVEPOINTS`), else they are staged too.
    ``optimistic``: every grade COPY'd as new at once, :class:`GradesExist` (the transaction aborted) if one was
    stored already (the module's docstring). Returns whether the staging table was used, and whether a savepoint
    was taken."""
    if not pending:
        return False, False
    driver = await _driver(session)
    if optimistic:
        try:
            await _copy_grades(driver, pending, institution_code=institution_code, actor=actor, source=source, job_id=job_id)
        except asyncpg.UniqueViolationError as exc:
            raise GradesExist() from exc
        return False, False
    stage_used = savepoint = False
    todo = list(pending)
    for _ in range(MAX_ROUNDS):
        existing = await session.execute(_LOCK_EXISTING, {
            "e": [p.key[0] for p in todo], "m": [p.key[1] for p in todo], "t": [p.key[2] for p in todo],
        })
        old: dict[Key, tuple[uuid.UUID, dict[str, Any]]] = {
            (r.enrolment_id, r.module_id, r.term_id): (r.id, snapshot(r.components, r.score, r.letter, r.points, r.passed))
            for r in existing
        }
        new: list[PendingGrade] = []
        changed: list[PendingGrade] = []
        for p in todo:
            found = old.get(p.key)
            if found is None:
                p.grade_id, p.old = None, None
                new.append(p)
                continue
            p.grade_id, p.old = found
            if p.old == p.new:
                p.result = "unchanged"
            else:
                changed.append(p)
        again: list[PendingGrade] = []
        if new and copy_new:  # until a COPY of new grades met a grade another writer inserted meanwhile
            savepoint = True
            if not await _copy_new(driver, new, institution_code=institution_code, actor=actor, source=source, job_id=job_id):
                copy_new, again = False, new
            new = []
        staged = changed + new
        if staged:
            if not stage_used:
                await session.execute(_CREATE_STAGE)
            if stage_used or not stage_empty:
                await session.execute(text(f"TRUNCATE {STAGE}"))
            stage_used = True
            again += await _upsert_staged(session, driver, staged, institution_code=institution_code, actor=actor,
                                          source=source, job_id=job_id)
        if not again:
            return stage_used, savepoint
        # another writer inserted the same sitting meanwhile: again, as an update
        todo = again
    raise RuntimeError("grades kept changing under the sync; this chunk is given up and will be retried")


async def _copy_new(driver: Any, new: list[PendingGrade], *, institution_code: str, actor: str, source: str,
                    job_id: uuid.UUID | None) -> bool:
    """``COPY``s grades that had no stored row, and their audit rows, under a savepoint. False (nothing written) when
    another writer inserted one of their sittings meanwhile."""
    await driver.execute("SAVEPOINT records_new_grades")
    try:
        await _copy_grades(driver, new, institution_code=institution_code, actor=actor, source=source, job_id=job_id)
    except asyncpg.UniqueViolationError:
        await driver.execute("ROLLBACK TO SAVEPOINT records_new_grades; RELEASE SAVEPOINT records_new_grades")
        return False
    await driver.execute("RELEASE SAVEPOINT records_new_grades")
    return True


async def _copy_grades(driver: Any, new: list[PendingGrade], *, institution_code: str, actor: str, source: str,
                       job_id: uuid.UUID | None) -> None:
    """``COPY``s grades as new, and their audit rows (old: none); each one's ``result`` is ``created`` once both
    are written. ``asyncpg.UniqueViolationError``: one of their sittings is stored already."""
    now = utcnow()
    ids = fresh_ids(2 * len(new))
    grades, audits = [], []
    for i, p in enumerate(new):
        grade_id, n = ids[2 * i], p.new
        components = p.components_json or json.dumps(n["components"])
        grades.append((grade_id, now, now, institution_code, *p.key, components, p.score, n["letter"], p.points, n["passed"], 1))
        audits.append((ids[2 * i + 1], grade_id, now, actor, source, job_id, p.reason, None,
                       p.new_json or snapshot_json(n, components)))
    await driver.copy_records_to_table("grades", records=grades, columns=GRADE_COLUMNS)
    await driver.copy_records_to_table("grade_audit", records=audits, columns=AUDIT_COLUMNS)
    for (grade_id, *_), p in zip(grades, new, strict=True):
        p.result, p.grade_id, p.version, p.old = "created", grade_id, 1, None


async def _upsert_staged(session: AsyncSession, driver: Any, staged: list[PendingGrade], *, institution_code: str,
                         actor: str, source: str, job_id: uuid.UUID | None) -> list[PendingGrade]:
    """Stages grades (an update under the stored grade's id, a new one under a fresh id) and applies them with one
    upsert that writes their audit rows too; returns those it left alone (inserted by another writer meanwhile)."""
    ids = iter(fresh_ids(sum(1 for p in staged if p.grade_id is None)))
    by_id: dict[uuid.UUID, PendingGrade] = {}
    records = []
    for p in staged:
        staged_id = p.grade_id or next(ids)
        by_id[staged_id] = p
        n = p.new
        records.append((staged_id, *p.key, p.components_json or json.dumps(n["components"]), p.score, n["letter"], p.points, n["passed"],
                        n["score"], n["points"], p.reason, None if p.old is None else json.dumps(p.old)))
    await driver.copy_records_to_table(STAGE, records=records, columns=STAGE_COLUMNS)
    written = await session.execute(_UPSERT, {
        "now": utcnow(), "institution": institution_code, "actor": actor, "source": source, "job": job_id,
    })
    for r in written:
        p = by_id.pop(r.id)
        p.result = "created" if p.old is None else "updated"
        p.grade_id, p.version = r.id, r.version
    return list(by_id.values())


# -- reads and ORM writes ------------------------------------------------------------------------------------------
async def sitting_of(session: AsyncSession, grade_id: uuid.UUID, *, lock: bool = False) -> tuple[Grade, Enrolment, Learner, Programme, Module, Term] | None:
    """The grade with what it belongs to; ``lock``: the grade row locked for the transaction (PostgreSQL), so two
    editors with the same ETag take turns."""
    stmt = (
        select(Grade, Enrolment, Learner, Programme, Module, Term)
        .join(Enrolment, Grade.enrolment_id == Enrolment.id).join(Learner, Enrolment.learner_id == Learner.id)
        .join(Programme, Enrolment.programme_id == Programme.id).join(Module, Grade.module_id == Module.id)
        .join(Term, Grade.term_id == Term.id).where(Grade.id == grade_id)
    )
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=Grade)
    row = (await session.execute(stmt)).first()
    return None if row is None else (row[0], row[1], row[2], row[3], row[4], row[5])


async def grade(session: AsyncSession, grade_id: uuid.UUID) -> Grade | None:
    return await session.get(Grade, grade_id)


async def stored(session: AsyncSession, key: Key) -> Grade | None:
    """The grade of a sitting (enrolment, module, term)."""
    return await session.scalar(select(Grade).where(Grade.enrolment_id == key[0], Grade.module_id == key[1], Grade.term_id == key[2]))


async def stored_components_locked(session: AsyncSession, key: Key) -> dict[str, Any] | None:
    """The components of a sitting's grade, the row locked for the transaction (the merge of a delta is based on
    what the write's own lock will find)."""
    return await session.scalar(
        select(Grade.components).where(Grade.enrolment_id == key[0], Grade.module_id == key[1], Grade.term_id == key[2])
        .with_for_update()
    )


async def delete_returning(session: AsyncSession, key: Key) -> Any:
    """Deletes a sitting's grade; its values as they were (None: there was none)."""
    return (await session.execute(
        delete(Grade).where(Grade.enrolment_id == key[0], Grade.module_id == key[1], Grade.term_id == key[2])
        .returning(Grade.id, Grade.components, Grade.score, Grade.letter, Grade.points, Grade.passed)
    )).first()


async def audits(session: AsyncSession, grade_id: uuid.UUID) -> list[GradeAudit]:
    stmt = select(GradeAudit).where(GradeAudit.grade_id == grade_id).order_by(GradeAudit.changed_at, GradeAudit.id)
    return list((await session.scalars(stmt)).all())


async def policy_row(session: AsyncSession, code: str) -> GradingPolicyRow | None:
    return await session.scalar(select(GradingPolicyRow).where(GradingPolicyRow.code == code))


async def programme(session: AsyncSession, programme_id: uuid.UUID) -> Programme | None:
    return await session.get(Programme, programme_id)


async def modules_of(session: AsyncSession, programme_id: uuid.UUID) -> list[Module]:
    return list((await session.scalars(select(Module).where(Module.programme_id == programme_id))).all())


async def grades_of(session: AsyncSession, enrolment_id: uuid.UUID) -> list[tuple[Grade, Module, Term]]:
    """An enrolment's grades with their module and term, by term and module."""
    rows = await session.execute(
        select(Grade, Module, Term).join(Module, Grade.module_id == Module.id).join(Term, Grade.term_id == Term.id)
        .where(Grade.enrolment_id == enrolment_id).order_by(Term.code, Module.code)
    )
    return [(g, m, t) for g, m, t in rows.all()]


async def number_of_person(session: AsyncSession, institution_code: str, person_id: uuid.UUID) -> str | None:
    stmt = select(Learner.id_number).where(Learner.institution_code == institution_code, Learner.person_id == person_id)
    number: str | None = await session.scalar(stmt)
    return number
