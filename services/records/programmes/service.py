"""Programmes (chương trình đào tạo) with their modules, terms and cohorts of an institution.

One rule per record type, the same for a row of a sync and for an API call: a programme's grading policy and
occupation code (a 7-digit code of the national list, 5… for intermediate, 6… for college level), weights that
add up to 1, no module twice; a term does not end before it starts; a cohort belongs to a known programme. Rows
are upserted by code: sending the same data again creates nothing and changes nothing, and every change lands in
the change feed."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import NotFound
from services.records.fields import validated
from services.records.grading.rules import DEFAULT_POLICY, GradingError, check_weights
from services.records.grading.scores import dec
from services.records.models import Cohort, Module, Programme, Term
from services.records.programmes import repository
from services.records.programmes.schemas import CohortRow, ModuleRead, ModuleRow, ProgrammeRead, ProgrammeRow, TermRow
from services.records.workspace import service as workspace
from services.records.workspace.service import RowError, RowResult, Workspace


# -- the rules, for a sync's rows and the API alike ----------------------------------------------------------------
def _weights(weights: dict[str, Any] | None, field_name: str, default: dict[str, Any]) -> dict[str, str]:
    try:
        return {k: dec(v) for k, v in check_weights(weights if weights is not None else default, field_name).items()}
    except GradingError as err:
        raise RowError(err.field, err.message) from None


def upsert_programme(ws: Workspace, row: ProgrammeRow) -> RowResult:
    policy_code = row.grading_policy or DEFAULT_POLICY.code
    policy = ws.policies.get(policy_code)
    if policy is None:
        raise RowError("grading_policy", f"unknown grading policy {policy_code!r}")
    if row.level in ("intermediate", "college"):
        if not row.occupation_code:
            raise RowError("occupation_code", f"a {row.level} programme needs a 7-digit occupation code")
        prefix = "5" if row.level == "intermediate" else "6"
        if not row.occupation_code.startswith(prefix):
            raise RowError("occupation_code", f"{row.level} occupation codes begin with {prefix}")
    if row.occupation_code and row.occupation_code not in ws.occupations:
        raise RowError("occupation_code", f"{row.occupation_code} is not in the national occupation list")
    weights = _weights(row.weights, "weights", {k: str(v) for k, v in policy.default_weights.items()})
    for i, m in enumerate(row.modules):
        if m.weights is not None:
            _weights(m.weights, f"modules.{i}.weights", {})  # every module's weights are checked before any is written
    seen = set()
    for i, m in enumerate(row.modules):
        if m.code in seen:
            raise RowError(f"modules.{i}.code", f"module {m.code} is listed twice")
        seen.add(m.code)
    values = {"name": row.name, "level": row.level, "occupation_code": row.occupation_code, "year": row.year,
              "grading_policy_code": policy_code, "weights": weights}
    existing = ws.programmes.get(row.code)
    result: RowResult = "unchanged"
    if existing is None:
        existing = Programme(id=uuid.uuid4(), institution_code=ws.code, code=row.code, version=1, **values)
        ws.add(existing)
        ws.programmes[row.code] = existing
        result = "created"
    elif any(getattr(existing, k) != v for k, v in values.items()):
        for k, v in values.items():
            setattr(existing, k, v)
        existing.version += 1
        result = "updated"
    if result != "unchanged":
        ws.catalogue_changed()
        ws.changes.add(ws.code, "programme", "upsert", {"institution_code": ws.code, "programme_code": row.code})
    for m in row.modules:
        r = upsert_module(ws, existing, m)
        if r != "unchanged" and result == "unchanged":
            result = "updated"
    return result


def upsert_module(ws: Workspace, programme: Programme, row: ModuleRow) -> RowResult:
    weights = _weights(row.weights, "weights", {}) if row.weights is not None else None
    values = {"name": row.name, "credits": row.credits, "weights": weights, "is_condition": row.is_condition}
    existing = ws.modules.get((programme.id, row.code))
    if existing is None:
        existing = Module(id=uuid.uuid4(), programme_id=programme.id, code=row.code, **values)
        ws.add(existing)
        ws.modules[(programme.id, row.code)] = existing
        result: RowResult = "created"
    elif any(getattr(existing, k) != v for k, v in values.items()):
        for k, v in values.items():
            setattr(existing, k, v)
        result = "updated"
    else:
        return "unchanged"
    ws.catalogue_changed()
    ws.changes.add(ws.code, "module", "upsert", {"institution_code": ws.code, "programme_code": programme.code, "module_code": row.code})
    return result


def upsert_module_row(ws: Workspace, row: ModuleRow) -> RowResult:
    """A module sent on its own row, naming its programme."""
    return upsert_module(ws, ws.programme(row.programme_code, "programme_code"), row)


def upsert_term(ws: Workspace, row: TermRow) -> RowResult:
    if row.start_date and row.end_date and row.end_date < row.start_date:
        raise RowError("end_date", "ends before it starts")
    values = {"name": row.name, "start_date": row.start_date, "end_date": row.end_date}
    result = _upsert_by_code(ws, ws.terms, Term, row.code, values)
    if result != "unchanged":
        ws.changes.add(ws.code, "term", "upsert", {"institution_code": ws.code, "term_code": row.code})
    return result


def upsert_cohort(ws: Workspace, row: CohortRow) -> RowResult:
    programme = ws.programme(row.programme_code, "programme_code")
    values = {"name": row.name, "programme_id": programme.id, "start_year": row.start_year}
    result = _upsert_by_code(ws, ws.cohorts, Cohort, row.code, values)
    if result != "unchanged":
        ws.changes.add(ws.code, "cohort", "upsert", {"institution_code": ws.code, "cohort_code": row.code})
    return result


def _upsert_by_code(ws: Workspace, cache: dict[str, Any], model: Any, code: str, values: dict[str, Any]) -> RowResult:
    """Creates the institution's row with this code, or updates the fields that differ: created / updated /
    unchanged."""
    existing = cache.get(code)
    if existing is None:
        existing = model(id=uuid.uuid4(), institution_code=ws.code, code=code, **values)
        ws.add(existing)
        cache[code] = existing
        return "created"
    if any(getattr(existing, k) != v for k, v in values.items()):
        for k, v in values.items():
            setattr(existing, k, v)
        return "updated"
    return "unchanged"


# -- one record through the API ----------------------------------------------------------------------------------
async def put_programme(session: AsyncSession, code: str, programme_code: str, data: dict[str, Any], *, actor: str) -> tuple[str, Programme]:
    """Creates or updates the programme ``programme_code`` with its modules: (created | updated | unchanged, it)."""
    row = validated(ProgrammeRow, data | {"code": programme_code})
    ws = await workspace.open_workspace(session, code, actor=actor)
    with workspace.rejecting():
        result = upsert_programme(ws, row)
    await workspace.finish(ws)
    return result, ws.programmes[row.code]


async def put_term(session: AsyncSession, code: str, term_code: str, data: dict[str, Any], *, actor: str) -> Term:
    row = validated(TermRow, data | {"code": term_code})
    ws = await workspace.open_workspace(session, code, actor=actor)
    with workspace.rejecting():
        upsert_term(ws, row)
    await workspace.finish(ws)
    return ws.terms[row.code]


async def put_cohort(session: AsyncSession, code: str, cohort_code: str, data: dict[str, Any], *, actor: str) -> Cohort:
    row = validated(CohortRow, data | {"code": cohort_code})
    ws = await workspace.open_workspace(session, code, actor=actor)
    with workspace.rejecting():
        upsert_cohort(ws, row)
    await workspace.finish(ws)
    return ws.cohorts[row.code]


# -- reads -------------------------------------------------------------------------------------------------------
async def programme_read(session: AsyncSession, p: Programme) -> ProgrammeRead:
    modules = await repository.modules_of(session, p.id)
    out = ProgrammeRead.model_validate(p)
    out.modules = [ModuleRead.model_validate(m) for m in modules]
    out.credits = sum(m.credits for m in modules if not m.is_condition)
    if p.occupation_code:
        occ = await repository.occupation(session, p.occupation_code)
        out.occupation_name = occ.name if occ else None
    return out


async def list_programmes(session: AsyncSession, code: str) -> list[ProgrammeRead]:
    return [await programme_read(session, p) for p in await repository.programmes(session, code)]


async def get_programme(session: AsyncSession, code: str, programme_code: str) -> ProgrammeRead:
    p = await repository.programme(session, code, programme_code)
    if p is None:
        raise NotFound(f"No programme {programme_code} at {code}.")
    return await programme_read(session, p)


async def list_terms(session: AsyncSession, code: str) -> list[Term]:
    return await repository.terms(session, code)


async def list_cohorts(session: AsyncSession, code: str) -> list[Cohort]:
    return await repository.cohorts(session, code)


async def get_cohort(session: AsyncSession, cohort_id: uuid.UUID) -> Cohort:
    cohort = await repository.cohort(session, cohort_id)
    if cohort is None:
        raise NotFound(f"No cohort {cohort_id}.")
    return cohort
