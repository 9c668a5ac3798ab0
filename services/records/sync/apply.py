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
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.records.changes.service import flat_json
from services.records.enrolments import service as enrolments
from services.records.enrolments.schemas import EnrolmentRow
from services.records.fields import pydantic_errors
from services.records.grades.schemas import GradeDelete, GradeRow
from services.records.grading.rules import GradingError, GradingPolicy, check_weights
from services.records.grading.scores import dec, weighted
from services.records.learners import service as learners
from services.records.learners.schemas import LearnerRow
from services.records.learners.service import PersonResolver
from services.records.models import Enrolment, Grade, GradeAudit, Module, Programme, Term
from services.records.programmes import service as programmes
from services.records.programmes.schemas import CohortRow, ModuleRow, ProgrammeRow, TermRow
from services.records.sync import bulk, sourced_ids
from services.records.sync.bulk import PendingGrade
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


def grade_snapshot(g: Grade) -> dict[str, Any]:
    return {"components": dict(g.components), "score": dec(g.score), "letter": g.letter, "points": dec(g.points), "passed": g.passed}


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
                await self._flush_grades()  # rows apply in their order
            try:
                if item.op == "merge":
                    row = await self._merge_stored(row)
                result = await self._apply_one(item, row, persons)
            except RowError as err:
                outcomes.append(Outcome(item, "rejected", [(err.field, err.message)]))
                continue
            outcome = Outcome(item, result)
            self._remember(item)
            if result == "pending":
                self.pending_grades[-1].outcome = outcome
            outcomes.append(outcome)
        await self._flush_grades()
        await workspace.finish(self)
        await self._write_ids()
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
            return await self._grade_bulk(row) if self.bulk else self.upsert_grade(row)
        if isinstance(row, GradeDelete):
            return await self._delete_bulk(row) if self.bulk else self.delete_grade(row)
        raise RowError("row", "unknown record type")

    async def _resolve(self, rows: list[tuple[Item, LearnerRow]]) -> dict[int, uuid.UUID]:
        out: dict[int, uuid.UUID] = {}
        for (item, _), person in zip(rows, await learners.resolve_persons(self.resolver, [r for _, r in rows]), strict=True):
            if isinstance(person, uuid.UUID):
                out[item.seq] = person
            else:
                item.errors.extend(person)
        return out

    # -- grades ----------------------------------------------------------------------------------------------
    def _plan(self, row: GradeRow | GradeDelete) -> Sitting:
        """The catalogue rows a grade row names (programme, module, term), checked in that order."""
        found = self.sittings.get((row.programme_code, row.module_code, row.term_code))
        if found is not None:
            return found
        programme = self.programme(row.programme_code, "programme_code")
        module = self.modules.get((programme.id, row.module_code))
        if module is None:
            raise RowError("module_code", f"module {row.module_code!r} is not in programme {programme.code}")
        term = self.terms.get(row.term_code)
        if term is None:
            raise RowError("term_code", f"unknown term {row.term_code!r} at institution {self.code}")
        codes = (self.code, row.programme_code, row.module_code, row.term_code)
        key_json = (f'{{"institution_code": "{self.code}", "id_number": "',
                    f'", "programme_code": "{row.programme_code}", "module_code": "{row.module_code}", "term_code": "{row.term_code}"}}'
                    ) if _plain("".join(codes)) else None
        found = Sitting(programme, module, term, programme.id, module.id, term.id, self.policy(programme), key_json)
        self.sittings[(row.programme_code, row.module_code, row.term_code)] = found
        return found

    def _sitting(self, row: GradeRow | GradeDelete) -> tuple[Programme, Module, Term, Enrolment]:
        plan = self._plan(row)
        enrolment = self.enrolment(self.learner(row.id_number), plan.programme)
        return plan.programme, plan.module, plan.term, enrolment

    def _graded(self, row: GradeRow) -> tuple[Enrolment, Module, Term, Decimal, Any, dict[str, Any]]:
        """Validates a grade row and grades it: (enrolment, module, term, score, letter band, snapshot)."""
        plan = self._plan(row)
        enrolment = self.enrolment(self.learner(row.id_number), plan.programme)
        if enrolment.status == "withdrawn":
            raise RowError("id_number", "the learner has withdrawn from this programme")
        score, band, new = self._score(plan, row.components)
        return enrolment, plan.module, plan.term, score, band, new

    def _score(self, plan: Sitting, components: dict[str, Any]) -> tuple[Decimal, Any, dict[str, Any]]:
        """A module's score from its component scores: (score, letter band, snapshot as the audit keeps it)."""
        checked = self.checked_weights.get(plan.module_id)
        try:
            if checked is None:
                checked = self.checked_weights[plan.module_id] = check_weights(plan.module.weights or plan.programme.weights)
                self.plain_names[plan.module_id] = all(_plain(name) for name in checked)
            score, canonical = weighted(components, checked)
        except GradingError as err:
            raise RowError(err.field, err.message) from None
        graded = self.bands.get((plan.policy.code, score))
        if graded is None:
            band = plan.policy.letter(score)
            graded = self.bands[(plan.policy.code, score)] = (band, plan.policy.passed(score), dec(score), dec(band.points))
        band, passed, score_text, points_text = graded
        return score, band, {"components": canonical, "score": score_text, "letter": band.letter, "points": points_text, "passed": passed}

    def upsert_grade(self, row: GradeRow, *, expected_version: int | None = None) -> str:
        enrolment, module, term, score, band, new = self._graded(row)
        components = dict(new["components"])
        existing = self.grades.get((enrolment.id, module.id, term.id))
        if existing is None:
            grade = Grade(
                id=uuid.uuid4(), institution_code=self.code, enrolment_id=enrolment.id, module_id=module.id, term_id=term.id,
                components=components, score=score, letter=band.letter, points=band.points, passed=new["passed"], version=1,
            )
            self.add(grade)
            self.grades[(enrolment.id, module.id, term.id)] = grade
            self._audit(grade.id, None, new, row.reason)
            result = "created"
        else:
            old = grade_snapshot(existing)
            if old == new:
                return "unchanged"
            existing.components, existing.score, existing.letter = components, score, band.letter
            existing.points, existing.passed = band.points, new["passed"]
            existing.version += 1
            self._audit(existing.id, old, new, row.reason)
            result = "updated"
        self.changes.add(self.code, "grade", "upsert", self._grade_key(row))
        return result

    async def _merge_stored(self, row: GradeRow) -> GradeRow:
        """A delta row (``Item.op == "merge"``, e.g. a OneRoster delta ``results.csv``) carries only the components
        that changed: the others come from the grade stored under the row's natural key, so the module score is
        recomputed from the whole set. Without a stored grade the row must name every component, as any row does.
        Stored components the module no longer weighs are left out."""
        plan = self._plan(row)
        enrolment = self.enrolment(self.learner(row.id_number), plan.programme)
        key = (enrolment.id, plan.module_id, plan.term_id)
        stored: dict[str, Any] | None = None
        if self.bulk:
            if key in self.pending_keys:  # the same sitting earlier in the chunk: written first, then read back
                await self._flush_grades()
            stored = await self.session.scalar(
                select(Grade.components).where(Grade.enrolment_id == key[0], Grade.module_id == key[1], Grade.term_id == key[2])
                .with_for_update()  # the merge is based on what the write's own lock will find
            )
        else:
            grade = self.grades.get(key)
            if grade is None and not any((g.enrolment_id, g.module_id, g.term_id) == key for g in self.deleted):
                grade = await self.session.scalar(
                    select(Grade).where(Grade.enrolment_id == key[0], Grade.module_id == key[1], Grade.term_id == key[2]))
                if grade is not None:  # not prefetched for this chunk: known from now on, so it is updated, not inserted
                    self.grades[key] = grade
            stored = dict(grade.components) if grade is not None else None
        if not stored:
            return row
        weighed = plan.module.weights or plan.programme.weights or {}
        kept = {k: v for k, v in stored.items() if k in weighed}
        return row.model_copy(update={"components": kept | row.components})

    def _pending_grade_of(self, row: GradeRow) -> PendingGrade:
        plan = self._plan(row)
        learner = self.learners.get(row.id_number)
        if learner is None:
            raise RowError("id_number", f"no learner with this personal ID number at institution {self.code}")
        enrolment = self.enrolments.get((learner.id, plan.programme_id))
        if enrolment is None:
            raise RowError("programme_code", f"the learner is not enrolled in programme {row.programme_code}")
        if enrolment.status == "withdrawn":
            raise RowError("id_number", "the learner has withdrawn from this programme")
        score, band, new = self._score(plan, row.components)
        key = {"institution_code": self.code, "id_number": row.id_number, "programme_code": row.programme_code,
               "module_code": row.module_code, "term_code": row.term_code}
        components = new["components"]
        if self.plain_names.get(plan.module_id):  # component names that need no escaping; the values are numbers
            components_json = "{" + ", ".join([f'"{k}": "{v}"' for k, v in components.items()]) + "}"
        else:
            components_json = flat_json(components)
        # the ID number is 12 digits (checked by GradeRow)
        change_json = plan.key_json[0] + row.id_number + plan.key_json[1] if plan.key_json else flat_json(key)
        return PendingGrade((enrolment.id, plan.module_id, plan.term_id), new, str(score), str(band.points), row.reason, key,
                            components_json=components_json, change_json=change_json)

    async def _grade_bulk(self, row: GradeRow) -> str:
        pending = self._pending_grade_of(row)
        if pending.key in self.pending_keys:  # the same sitting twice in a chunk: the first is written first
            await self._flush_grades()
        self.pending_grades.append(pending)
        self.pending_keys.add(pending.key)
        return "pending"

    async def _flush_grades(self) -> None:
        if not self.pending_grades:
            return
        pending, self.pending_grades = self.pending_grades, []
        self.pending_keys.clear()
        await workspace.write_new(self)  # the learners, enrolments… earlier rows of the chunk created
        await self.session.flush()
        await self._write_pending(pending)

    async def _write_pending(self, pending: list[PendingGrade]) -> None:
        await bulk.write_grades(self.session, pending, institution_code=self.code, actor=self.actor, source=self.source,
                                job_id=self.job_id, stage_empty=not self.stage_used)
        self.stage_used = True
        for p in pending:
            p.outcome.result = p.result
            if p.result != "unchanged":
                self.changes.add(self.code, "grade", "upsert", p.change_key, key_json=p.change_json)

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
                pending = self._pending_grade_of(row)
            except RowError as err:
                outcomes.append(Outcome(item, "rejected", [(err.field, err.message)]))
                continue
            if pending.key in keys:
                rounds.append([])
                keys = set()
            rounds[-1].append(pending)
            keys.add(pending.key)
            pending.outcome = Outcome(item, "pending")
            outcomes.append(pending.outcome)
        return PreparedGrades(outcomes, [r for r in rounds if r])

    async def write_prepared(self, prepared: PreparedGrades) -> list[Outcome]:
        """Writes a chunk :meth:`prepare_grades` validated (set-based, audited, into the change feed) in this
        Applier's transaction; returns its outcomes."""
        for pending in prepared.rounds:
            await self._write_pending(pending)
        await self.changes.flush(self.session)
        for outcome in prepared.outcomes:
            if outcome.result != "rejected":
                self._remember(outcome.item)
        await self._write_ids()
        return prepared.outcomes

    async def _delete_bulk(self, row: GradeDelete, reason: str | None = None) -> str:
        _, module, term, enrolment = self._sitting(row)
        gone = (await self.session.execute(
            delete(Grade).where(Grade.enrolment_id == enrolment.id, Grade.module_id == module.id, Grade.term_id == term.id)
            .returning(Grade.id, Grade.components, Grade.score, Grade.letter, Grade.points, Grade.passed)
        )).first()
        if gone is None:
            return "unchanged"
        self._audit(gone.id, bulk.snapshot(gone.components, gone.score, gone.letter, gone.points, gone.passed), None, reason)
        self.changes.add(self.code, "grade", "delete", self._grade_key(row))
        return "deleted"

    def delete_grade(self, row: GradeDelete, reason: str | None = None) -> str:
        _, module, term, enrolment = self._sitting(row)
        existing = self.grades.pop((enrolment.id, module.id, term.id), None)
        if existing is None:
            return "unchanged"
        self._audit(existing.id, grade_snapshot(existing), None, reason)
        self.deleted.append(existing)
        self.changes.add(self.code, "grade", "delete", self._grade_key(row))
        return "deleted"

    def _grade_key(self, row: GradeRow | GradeDelete) -> dict[str, Any]:
        return {"institution_code": self.code, "id_number": row.id_number, "programme_code": row.programme_code,
                "module_code": row.module_code, "term_code": row.term_code}

    def _audit(self, grade_id: uuid.UUID, old: dict[str, Any] | None, new: dict[str, Any] | None, reason: str | None) -> None:
        self.add(GradeAudit(
            id=uuid.uuid4(), grade_id=grade_id, actor=self.actor, source=self.source, sync_job_id=self.job_id,
            reason=reason, old=old, new=new,
        ))
