"""The sync engine's dispatcher: a chunk of parsed rows (JSON batch, CSV, OneRoster) through the domains' rules.

Each row is parsed with its record type's schema, its persons resolved in identity (one ``POST /v1/persons/resolve``
per chunk of learner rows, never one call per row) and the learners it names read once per chunk; then each row goes
to its domain's write function (:mod:`programmes <services.records.programmes.service>`, :mod:`learners
<services.records.learners.service>`, :mod:`enrolments <services.records.enrolments.service>`, :mod:`grades
<services.records.grades.service>`) with the chunk's :class:`~services.records.workspace.service.Workspace`, in
order. The API's single-row writes call the same functions, so a rule lives in one place.

A row is checked completely before anything is written for it, so a broken row is never applied (partly or
wholly); its :class:`RowError` becomes the row's ``rejected`` outcome. Rows match existing records by natural key,
so sending the same data again creates nothing and changes nothing. A chunk's OneRoster sourcedIds are remembered
in its transaction, for the rows that were applied.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from services.records.enrolments import service as enrolments
from services.records.enrolments.schemas import EnrolmentRow
from services.records.fields import pydantic_errors
from services.records.grades import service as grades
from services.records.grades.repository import PendingGrade
from services.records.grades.schemas import GradeDelete, GradeRow
from services.records.learners import service as learners
from services.records.learners.schemas import LearnerRow
from services.records.learners.service import PersonResolver
from services.records.programmes import service as programmes
from services.records.programmes.schemas import CohortRow, ModuleRow, ProgrammeRow, TermRow
from services.records.sync import repository
from services.records.sync.items import SOURCED_IDS, YIELD_EVERY, Item, Outcome
from services.records.sync.rows import ENTITIES
from services.records.workspace import service as workspace
from services.records.workspace.service import RowError, RowResult, Workspace


@dataclass
class PreparedGrades:
    """A chunk of grade rows validated and graded ahead of its write (:func:`prepare_grades`): one outcome per row
    in row order (rejected ones final, the others ``pending`` until written) and the grades to write, in rounds of
    distinct sittings (a sitting sent twice in the chunk is written twice, in order)."""

    outcomes: list[Outcome]
    rounds: list[list[PendingGrade]]


def _settle(outcomes: list[Outcome]) -> None:
    """The result of each grade row that waited for a set-based write, now written."""
    for o in outcomes:
        if o.pending is not None:
            o.result = o.pending.result


def _parse(item: Item) -> Any:
    """The item's row, or None (its errors added to the item)."""
    if item.errors or item.data is None or item.entity == SOURCED_IDS:
        return None
    schema = GradeDelete if (item.entity == "grades" and item.op == "delete") else ENTITIES[item.entity]
    try:
        return schema.model_validate(item.data)
    except ValidationError as exc:
        item.errors.extend(pydantic_errors(exc))
        return None


async def _resolve(resolver: PersonResolver | None, rows: list[tuple[Item, LearnerRow]]) -> dict[int, uuid.UUID]:
    """The person of each learner row (by the item's ``seq``); a row identity refuses gets its errors."""
    out: dict[int, uuid.UUID] = {}
    for (item, _), person in zip(rows, await learners.resolve_persons(resolver, [r for _, r in rows]), strict=True):
        if isinstance(person, uuid.UUID):
            out[item.seq] = person
        else:
            item.errors.extend(person)
    return out


async def _dispatch(ws: Workspace, item: Item, row: Any, persons: dict[int, uuid.UUID]) -> RowResult:
    if isinstance(row, GradeRow):
        return await grades.upsert_grade(ws, row)
    if isinstance(row, ProgrammeRow):
        return programmes.upsert_programme(ws, row)
    if isinstance(row, ModuleRow):
        return programmes.upsert_module_row(ws, row)
    if isinstance(row, TermRow):
        return programmes.upsert_term(ws, row)
    if isinstance(row, CohortRow):
        return programmes.upsert_cohort(ws, row)
    if isinstance(row, LearnerRow):
        return learners.upsert_learner(ws, row, persons[item.seq])
    if isinstance(row, EnrolmentRow):
        return enrolments.upsert_enrolment(ws, row)
    if isinstance(row, GradeDelete):
        return await grades.delete_grade(ws, row)
    raise RowError("row", "unknown record type")


def _remember(ws: Workspace, item: Item) -> None:
    """Keeps the sourcedIds of a row that was applied (whether or not it changed anything), for :func:`_write_ids`."""
    for kind, sid, key in item.ids or ():
        ws.ids[(kind, sid)] = repository.dumps(key)


async def _write_ids(ws: Workspace) -> None:
    """Writes the chunk's remembered sourcedIds in its transaction: one statement (PostgreSQL) or one
    ``executemany`` (SQLite) per chunk."""
    if ws.ids:
        ids, ws.ids = ws.ids, {}
        await repository.remember(ws.session, ws.code, ids)


async def apply_chunk(ws: Workspace, items: Sequence[Item], resolver: PersonResolver | None = None) -> list[Outcome]:
    """Validates and applies ``items`` in order in the workspace's transaction; one outcome each. Changes reach the
    session (flushed) and the change feed. ``resolver``: identity's person resolve call (for learner rows)."""
    if not ws.loaded:
        await workspace.load(ws)
    parsed = [_parse(item) for item in items]
    persons = await _resolve(resolver, [(i, p) for i, p in zip(items, parsed, strict=True) if isinstance(p, LearnerRow)])
    named = [p for p in parsed if p is not None and hasattr(p, "id_number")]
    await workspace.prefetch(ws, named, graded=[p for p in named if isinstance(p, (GradeRow, GradeDelete))])
    outcomes = []
    for item, row in zip(items, parsed, strict=True):
        if item.entity == SOURCED_IDS and not item.errors:
            _remember(ws, item)
            outcomes.append(Outcome(item, "remembered"))
            continue
        if row is None or item.errors:
            outcomes.append(Outcome(item, "rejected", list(item.errors)))
            continue
        if ws.pending_grades and not isinstance(row, GradeRow):
            await grades.flush_pending(ws)  # rows apply in their order
        try:
            if item.op == "merge":
                row = await grades.merge_stored(ws, row)
            result = await _dispatch(ws, item, row, persons)
        except RowError as err:
            outcomes.append(Outcome(item, "rejected", [(err.field, err.message)]))
            continue
        outcome = Outcome(item, result)
        _remember(ws, item)
        if result == "pending":
            outcome.pending = ws.pending_grades[-1]
        outcomes.append(outcome)
    await grades.flush_pending(ws)
    await workspace.finish(ws)
    await _write_ids(ws)
    _settle(outcomes)
    return outcomes


# -- a chunk of grades validated ahead of its write ----------------------------------------------------------------
def grades_only(items: Sequence[Item]) -> bool:
    """Whether :func:`prepare_grades` can take this chunk: grade upserts only (rows already broken included)."""
    return all(i.entity == "grades" and i.op == "upsert" for i in items)


async def prepare_grades(ws: Workspace, items: Sequence[Item]) -> PreparedGrades:
    """Validates and grades a chunk of grade rows (:func:`grades_only`) and writes nothing, so the workspace's
    session may be a read-only one of its own. A sync job prepares its next chunk this way while the current one is
    being written: the catalogue, learners and enrolments it reads are not changed by a chunk of grades, and the
    existing grades (the audit's ``old``) are read and locked only by :func:`write_prepared`, in the writing
    transaction. Row errors are those :func:`apply_chunk` reports."""
    if not ws.loaded:
        await workspace.load(ws)
    rows: list[GradeRow | None] = []
    for n, item in enumerate(items, start=1):
        row = None
        if item.data is not None and not item.errors:
            try:
                row = GradeRow.model_validate(item.data)
            except ValidationError as exc:
                item.errors.extend(pydantic_errors(exc))
        rows.append(row)
        if n % YIELD_EVERY == 0:
            await asyncio.sleep(0)
    await workspace.prefetch(ws, [r for r in rows if r is not None])
    outcomes: list[Outcome] = []
    rounds: list[list[PendingGrade]] = [[]]
    keys: set[tuple[uuid.UUID, uuid.UUID, uuid.UUID]] = set()
    for n, (item, row) in enumerate(zip(items, rows, strict=True), start=1):
        if n % YIELD_EVERY == 0:
            await asyncio.sleep(0)
        if row is None:
            outcomes.append(Outcome(item, "rejected", list(item.errors)))
            continue
        try:
            pending = grades.pending_grade(ws, row)
        except RowError as err:
            outcomes.append(Outcome(item, "rejected", [(err.field, err.message)]))
            continue
        if pending.key in keys:
            rounds.append([])
            keys = set()
        rounds[-1].append(pending)
        keys.add(pending.key)
        outcomes.append(Outcome(item, "pending", pending=pending))
    return PreparedGrades(outcomes, [r for r in rounds if r])


async def write_prepared(ws: Workspace, prepared: PreparedGrades) -> list[Outcome]:
    """Writes a chunk :func:`prepare_grades` validated (set-based, audited, into the change feed) in the workspace's
    transaction; returns its outcomes."""
    for pending in prepared.rounds:
        await grades.write_pending(ws, pending)
    _settle(prepared.outcomes)
    await ws.changes.flush(ws.session)
    for outcome in prepared.outcomes:
        if outcome.result != "rejected":
            _remember(ws, outcome.item)
    await _write_ids(ws)
    return prepared.outcomes
