"""Applying records rows: one code path for the API, JSON batches, CSV and OneRoster.

Each row is validated completely before anything is written for it, so a broken row is never applied (partly or
wholly). Rows match existing records by natural key (institution + personal ID + programme + module + term), so
sending the same data again creates nothing and changes nothing. Every grade change is audited, and every
change lands in the change feed. Learners are linked to identity's persons with one ``POST /v1/persons/resolve``
per chunk of rows, never one call per row.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

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
from services.records.sync import sourced_ids
from services.records.sync.items import SOURCED_IDS, YIELD_EVERY, Item, Outcome
from services.records.sync.rows import ENTITIES
from services.records.workspace import service as workspace
from services.records.workspace.service import RowError, Workspace


@dataclass
class PreparedGrades:
    """A chunk of grade rows validated and graded ahead of its write (:meth:`Applier.prepare_grades`): one outcome
    per row in row order (rejected ones final, the others ``pending`` until written) and the grades to write, in
    rounds of distinct sittings (a sitting sent twice in the chunk is written twice, in order)."""

    outcomes: list[Outcome]
    rounds: list[list[PendingGrade]]


def _settle(outcomes: list[Outcome]) -> None:
    """The result of each grade row that waited for a set-based write, now written."""
    for o in outcomes:
        if o.pending is not None:
            o.result = o.pending.result


class Applier(Workspace):
    def __init__(
        self,
        session: AsyncSession,
        institution_code: str,
        *,
        actor: str,
        source: str,
        job_id: uuid.UUID | None = None,
        resolver: PersonResolver | None = None,
        bulk: bool = False,
    ) -> None:
        super().__init__(session, institution_code, actor=actor, source=source, job_id=job_id, bulk=bulk)
        self.resolver = resolver

    # -- chunk -----------------------------------------------------------------------------------------------
    async def apply(self, items: Sequence[Item]) -> list[Outcome]:
        """Validate and apply ``items`` in order within the caller's transaction; returns one outcome each.
        Changes reach the session (flushed) and the change log (flushed to the feed here too)."""
        if not self.loaded:
            await workspace.load(self)
        parsed: list[Any] = []
        for item in items:
            if item.errors or item.data is None or item.entity == SOURCED_IDS:
                parsed.append(None)
                continue
            schema = GradeDelete if (item.entity == "grades" and item.op == "delete") else ENTITIES[item.entity]
            try:
                parsed.append(schema.model_validate(item.data))
            except ValidationError as exc:
                item.errors.extend(pydantic_errors(exc))
                parsed.append(None)
        persons = await self._resolve([(i, p) for i, p in zip(items, parsed) if isinstance(p, LearnerRow)])
        named = [p for p in parsed if p is not None and hasattr(p, "id_number")]
        await workspace.prefetch(self, named, graded=[p for p in named if isinstance(p, (GradeRow, GradeDelete))])
        outcomes = []
        for item, row in zip(items, parsed):
            if item.entity == SOURCED_IDS and not item.errors:
                self._remember(item)
                outcomes.append(Outcome(item, "remembered"))
                continue
            if row is None or item.errors:
                outcomes.append(Outcome(item, "rejected", list(item.errors)))
                continue
            if self.pending_grades and not isinstance(row, GradeRow):
                await grades.flush_pending(self)  # rows apply in their order
            try:
                if item.op == "merge":
                    row = await grades.merge_stored(self, row)
                result = await self._apply_one(item, row, persons)
            except RowError as err:
                outcomes.append(Outcome(item, "rejected", [(err.field, err.message)]))
                continue
            outcome = Outcome(item, result)
            self._remember(item)
            if result == "pending":
                outcome.pending = self.pending_grades[-1]
            outcomes.append(outcome)
        await grades.flush_pending(self)
        await workspace.finish(self)
        await self._write_ids()
        _settle(outcomes)
        return outcomes

    def _remember(self, item: Item) -> None:
        """Keeps the sourcedIds of a row that was applied (whether or not it changed anything), for
        :meth:`_write_ids`."""
        for kind, sid, key in item.ids or ():
            self.ids[(kind, sid)] = sourced_ids.dumps(key)

    async def _write_ids(self) -> None:
        """Writes the chunk's remembered sourcedIds in its transaction: one statement (PostgreSQL) or one
        ``executemany`` (SQLite) per chunk."""
        if self.ids:
            ids, self.ids = self.ids, {}
            await sourced_ids.remember(self.session, self.code, ids)

    async def _apply_one(self, item: Item, row: Any, persons: dict[int, uuid.UUID]) -> str:
        if isinstance(row, ProgrammeRow):
            return programmes.upsert_programme(self, row)
        if isinstance(row, ModuleRow):
            return programmes.upsert_module_row(self, row)
        if isinstance(row, TermRow):
            return programmes.upsert_term(self, row)
        if isinstance(row, CohortRow):
            return programmes.upsert_cohort(self, row)
        if isinstance(row, LearnerRow):
            return learners.upsert_learner(self, row, persons[item.seq])
        if isinstance(row, EnrolmentRow):
            return enrolments.upsert_enrolment(self, row)
        if isinstance(row, GradeRow):
            return await grades.upsert_grade(self, row)
        if isinstance(row, GradeDelete):
            return await grades.delete_grade(self, row)
        raise RowError("row", "unknown record type")

    async def _resolve(self, rows: list[tuple[Item, LearnerRow]]) -> dict[int, uuid.UUID]:
        out: dict[int, uuid.UUID] = {}
        for (item, _), person in zip(rows, await learners.resolve_persons(self.resolver, [r for _, r in rows]), strict=True):
            if isinstance(person, uuid.UUID):
                out[item.seq] = person
            else:
                item.errors.extend(person)
        return out

    # -- a chunk of grades validated ahead of its write ---------------------------------------------------------
    @staticmethod
    def grades_only(items: Sequence[Item]) -> bool:
        """Whether :meth:`prepare_grades` can take this chunk: grade upserts only (rows already broken included)."""
        return all(i.entity == "grades" and i.op == "upsert" for i in items)

    async def prepare_grades(self, items: Sequence[Item]) -> PreparedGrades:
        """Validates and grades a chunk of grade rows (:meth:`grades_only`) and writes nothing, so the session may
        be a read-only one of its own. A sync job prepares its next chunk this way while the current one is being
        written: the catalogue, learners and enrolments it reads are not changed by a chunk of grades, and the
        existing grades (the audit's ``old``) are read and locked only by :meth:`write_prepared`, in the writing
        transaction. Row errors are those :meth:`apply` reports."""
        if not self.loaded:
            await workspace.load(self)
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
        await workspace.prefetch(self, [r for r in rows if r is not None])
        outcomes: list[Outcome] = []
        rounds: list[list[PendingGrade]] = [[]]
        keys: set[tuple[uuid.UUID, uuid.UUID, uuid.UUID]] = set()
        for n, (item, row) in enumerate(zip(items, rows), start=1):
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)
            if row is None:
                outcomes.append(Outcome(item, "rejected", list(item.errors)))
                continue
            try:
                pending = grades.pending_grade(self, row)
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

    async def write_prepared(self, prepared: PreparedGrades) -> list[Outcome]:
        """Writes a chunk :meth:`prepare_grades` validated (set-based, audited, into the change feed) in this
        Applier's transaction; returns its outcomes."""
        for pending in prepared.rounds:
            await grades.write_pending(self, pending)
        _settle(prepared.outcomes)
        await self.changes.flush(self.session)
        for outcome in prepared.outcomes:
            if outcome.result != "rejected":
                self._remember(outcome.item)
        await self._write_ids()
        return prepared.outcomes
