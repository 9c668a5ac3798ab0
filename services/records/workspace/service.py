"""The workspace of one transaction's records writes: a sync chunk, an all_or_nothing job's one transaction, or
one API call. Every domain's write functions take it explicitly (``ws``); nothing is global.

It holds who writes (institution, actor, source, sync job), what was read once (the institution's catalogue and
reference data, then the learners a chunk names with their enrolments and grades), what the rows made (new rows
waiting to go out in table order, grades to delete, set-based grade writes waiting for their batch, OneRoster
sourcedIds to remember) and the change log. A row's rule violation is a :class:`RowError` naming the field; a
sync reports it as that row's error, an API call as a 422 (:func:`rejecting`)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any, Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from services.records.changes.service import ChangeLog
from services.records.fields import rejected
from services.records.grading.rules import DEFAULT_POLICY, GradingPolicy
from services.records.models import (
    Cohort,
    Enrolment,
    EnrolmentStatusChange,
    Grade,
    GradeAudit,
    Learner,
    Module,
    Occupation,
    Programme,
    Term,
)
from services.records.workspace import repository

#: a learner's sitting of a module in a term: (enrolment, module, term) ids
SittingKey = tuple[uuid.UUID, uuid.UUID, uuid.UUID]
#: what a row did; ``pending``: a grade waiting for its set-based write, which tells created, updated or unchanged
RowResult = Literal["created", "updated", "unchanged", "deleted", "pending"]


class RowError(Exception):
    """A row breaks a rule: ``field`` says where, ``message`` what (both shown to the school)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class PersonRow(Protocol):
    """A row that names a learner by personal ID number."""

    id_number: str


class Workspace:
    """What one transaction's writes share (a new one per transaction; a sync chunk's, or an API call's)."""

    #: inserts go out table by table in this order (the models have no ORM relationships for the unit of work to
    #: order them by)
    INSERT_ORDER = (Programme, Module, Term, Cohort, Learner, Enrolment, EnrolmentStatusChange, Grade, GradeAudit)

    def __init__(self, session: AsyncSession, institution_code: str, *, actor: str, source: str,
                 job_id: uuid.UUID | None = None, bulk: bool = False) -> None:
        self.session = session
        self.code = institution_code
        self.actor = actor
        self.source = source
        self.job_id = job_id
        #: PostgreSQL set-based grade writes (:mod:`services.records.grades.repository`): grade rows wait in
        #: ``pending_grades`` and are written together before any other row, a repeated key, or the end of the chunk
        self.bulk = bulk
        self.changes = ChangeLog()
        # the catalogue and reference data (:func:`load`)
        self.loaded = False
        self.programmes: dict[str, Programme] = {}
        self.modules: dict[tuple[uuid.UUID, str], Module] = {}
        self.terms: dict[str, Term] = {}
        self.cohorts: dict[str, Cohort] = {}
        self.policies: dict[str, GradingPolicy] = {}
        self.occupations: dict[str, Occupation] = {}
        # what the rows name (:func:`prefetch`), and what they made
        self.learners: dict[str, Learner] = {}
        self.enrolments: dict[tuple[uuid.UUID, uuid.UUID], Enrolment] = {}
        self.grades: dict[SittingKey, Grade] = {}
        #: learners (ID numbers) whose stored grades are in ``grades`` (ORM writes)
        self.grades_read: set[str] = set()
        # derived from the catalogue, emptied whenever a row changes it (:meth:`catalogue_changed`)
        self.checked_weights: dict[uuid.UUID, dict[str, Decimal]] = {}
        #: (programme, module, term) codes → their rows (:class:`services.records.grades.service.Sitting`); and
        #: (policy, score) → (letter band, passed, canonical score and points)
        self.sittings: dict[tuple[str, str, str], Any] = {}
        self.bands: dict[tuple[str, Decimal], tuple[Any, bool, str, str]] = {}
        #: module → whether its component names go into JSON without escaping
        self.plain_names: dict[uuid.UUID, bool] = {}
        # the writes
        self._new: dict[type, list[Any]] = {}
        #: grades deleted through the ORM, deleted from the session by :func:`finish`
        self.deleted: list[Grade] = []
        #: set-based grade writes waiting for their batch (:class:`services.records.grades.repository.PendingGrade`)
        self.pending_grades: list[Any] = []
        self.pending_keys: set[SittingKey] = set()
        #: whether the grade staging table was used in this transaction (a workspace lives in one transaction)
        self.stage_used = False
        #: savepoints taken in this transaction for COPYs of new grades (bounded: ``grades.repository.MAX_SAVEPOINTS``)
        self.savepoints = 0
        #: the next set-based grade write may COPY every grade as new without reading the stored ones first (a sync
        #: chunk in a transaction of its own, rolled back whole if one was stored: ``grades.repository.GradesExist``)
        self.optimistic = False
        #: OneRoster sourcedIds of the applied rows, (file, sourcedId) → natural key as JSON, written with them
        self.ids: dict[tuple[str, str], str] = {}

    @property
    def history_source(self) -> str:
        """The source as an enrolment's status history names it: ``sync:<job id>`` for a job."""
        return f"{self.source}:{self.job_id}" if self.job_id else self.source

    def add(self, obj: Any) -> None:
        """A new row, inserted with the others of its table (:data:`INSERT_ORDER`)."""
        self._new.setdefault(type(obj), []).append(obj)

    def catalogue_changed(self) -> None:
        self.checked_weights.clear()
        self.sittings.clear()
        self.bands.clear()
        self.plain_names.clear()

    def cached_rows(self) -> int:
        """How many learners' enrolments and grades are held (an all_or_nothing job bounds its memory by it)."""
        return len(self.grades) + len(self.enrolments)

    def forget_cached_rows(self) -> None:
        """Drops the learners, enrolments and grades read so far (they are read again when a row names them)."""
        self.learners.clear()
        self.enrolments.clear()
        self.grades.clear()
        self.grades_read.clear()

    # -- lookups by natural key --------------------------------------------------------------------------------
    def programme(self, code: str | None, field_name: str) -> Programme:
        if not code or code not in self.programmes:
            raise RowError(field_name, f"unknown programme {code!r} at institution {self.code}")
        return self.programmes[code]

    def policy(self, programme: Programme) -> GradingPolicy:
        return self.policies.get(programme.grading_policy_code, DEFAULT_POLICY)

    def learner(self, id_number: str) -> Learner:
        learner = self.learners.get(id_number)
        if learner is None:
            raise RowError("id_number", f"no learner with this personal ID number at institution {self.code}")
        return learner

    def enrolment(self, learner: Learner, programme: Programme) -> Enrolment:
        e = self.enrolments.get((learner.id, programme.id))
        if e is None:
            raise RowError("programme_code", f"the learner is not enrolled in programme {programme.code}")
        return e


async def load(ws: Workspace) -> None:
    """The institution's catalogue (programmes, modules, terms, cohorts) and the reference data."""
    s, code = ws.session, ws.code
    ws.programmes = {p.code: p for p in await repository.programmes(s, code)}
    ids = [p.id for p in ws.programmes.values()]
    if ids:
        ws.modules = {(m.programme_id, m.code): m for m in await repository.modules(s, ids)}
    ws.terms = {t.code: t for t in await repository.terms(s, code)}
    ws.cohorts = {c.code: c for c in await repository.cohorts(s, code)}
    ws.policies = {r.code: GradingPolicy.from_dict(r.rules) for r in await repository.grading_policies(s)}
    ws.policies.setdefault(DEFAULT_POLICY.code, DEFAULT_POLICY)
    ws.occupations = {o.code: o for o in await repository.occupations(s)}
    ws.loaded = True


async def open_workspace(session: AsyncSession, institution_code: str, *, actor: str, source: str = "api") -> Workspace:
    """A workspace for one API call, its catalogue loaded."""
    ws = Workspace(session, institution_code, actor=actor, source=source)
    await load(ws)
    return ws


async def prefetch(ws: Workspace, rows: Iterable[PersonRow], *, graded: Iterable[PersonRow] = ()) -> None:
    """Reads the learners ``rows`` name (and their enrolments) that are not known yet; for ``graded`` rows (grades
    written through the ORM), also their stored grades, once per learner: a learner may have been read for an
    earlier chunk's rows (an all_or_nothing job keeps one workspace) without its grades, which this chunk's rows
    update."""
    s = ws.session
    numbers = {r.id_number for r in rows} - set(ws.learners)
    if numbers:
        found = await repository.learners(s, ws.code, numbers)
        for learner in found:
            ws.learners[learner.id_number] = learner
        if found:
            for e in await repository.enrolments(s, [x.id for x in found]):
                ws.enrolments[(e.learner_id, e.programme_id)] = e
    if ws.bulk:  # set-based writes read (and lock) the stored grades themselves
        return
    wanted = {r.id_number for r in graded} - ws.grades_read
    if not wanted:
        return
    ws.grades_read |= wanted
    learner_ids = {ws.learners[n].id for n in wanted if n in ws.learners}
    enrolment_ids = [e.id for (learner_id, _), e in ws.enrolments.items() if learner_id in learner_ids]
    if enrolment_ids:
        for g in await repository.grades(s, enrolment_ids):
            ws.grades.setdefault((g.enrolment_id, g.module_id, g.term_id), g)


async def write_new(ws: Workspace) -> None:
    """Sends the new rows, table by table in :data:`Workspace.INSERT_ORDER`."""
    for model in ws.INSERT_ORDER:
        objs = ws._new.pop(model, None)
        if objs:
            ws.session.add_all(objs)
            await ws.session.flush()


async def finish(ws: Workspace) -> None:
    """Sends what the rows made (new rows, deletions) and the change log, in the workspace's transaction."""
    await write_new(ws)
    for g in ws.deleted:
        await ws.session.delete(g)
    ws.deleted.clear()
    await ws.session.flush()
    await ws.changes.flush(ws.session)


@contextlib.contextmanager
def rejecting() -> Iterator[None]:
    """A row error of a single-row API write as the 422 a sync's row error would have been."""
    try:
        yield
    except RowError as err:
        raise rejected([(err.field, err.message)]) from None
