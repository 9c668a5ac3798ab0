"""National oversight in records: the connection board, targets (ministry-edited, audited), indicators computed
from the platform's data or entered by officers, their yearly snapshots.

Who sees what: national officers (and platform administrators with ``records:admin``) every province; province
officers their provinces only; nobody else. Targets are edited by national officers; entered values by national
officers (any scope) and province officers (their provinces).

Where the numbers come from, and how fresh they are: records' own tables (sync jobs, the change feed, enrolments)
as of the request; identity's registry, machine clients and staff counts, and learning's activity, as of their last
pull (``sources`` in the board; every ``RECORDS_OVERSIGHT_PULL_SECONDS``); diplomas as credentials' events reach
records (seconds, through the outbox)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.common.id_numbers import current_province
from services.common.id_numbers import provinces as province_list
from services.common.permissions import is_national_officer, provinces_of
from services.records.models import IndicatorValue, OversightAudit, OversightInstitution, OversightTarget
from services.records.oversight import repository
from services.records.oversight.indicators import CONNECTION_TYPES, INDICATORS, STATE_INDICATORS
from services.records.oversight.schemas import (
    ConnectionBoard,
    ConnectionRow,
    Freshness,
    IndicatorCard,
    IndicatorReport,
    LastError,
    Share,
    SourceFreshness,
    TargetCreate,
    TargetPoint,
    TargetRead,
    TargetUpdate,
    ValueIn,
    WeekRows,
)

#: the first year the trend lines show (Decision 2222 was signed at the end of 2021)
FIRST_YEAR = 2022
SOFT_SKILLS_TYPES = ("college", "intermediate", "vet_centre")


def actor(principal: Principal) -> str:
    return principal.sub[:200]


def is_national(principal: Principal) -> bool:
    return is_national_officer(principal) or principal.has_scope("records:admin")


def scope_of(principal: Principal) -> set[str] | None:
    """None: every province; else the caller's provinces. Refuses anyone who is no officer."""
    if is_national(principal):
        return None
    mine = provinces_of(principal)
    if not mine:
        raise Forbidden("National oversight is for province and ministry officers.")
    return mine


def provinces_for(principal: Principal, province: str | None) -> set[str] | None:
    mine = scope_of(principal)
    if province is None:
        return mine
    province = current_province(province)
    if mine is not None and province not in mine:
        raise Forbidden(f"You may not see province {province}.")
    return {province}


def iso_week(at: datetime) -> str:
    year, week, _ = at.isocalendar()
    return f"{year}-W{week:02d}"


def _target_province(t: OversightTarget) -> str:
    return current_province(t.province_code) if t.province_code else ""


async def connection_targets(session: AsyncSession) -> tuple[dict[int, float], dict[str, dict[int, float]]]:
    """Connection-share targets: national by year, and per (current) province by year."""
    national: dict[int, float] = {}
    by_province: dict[str, dict[int, float]] = defaultdict(dict)
    for t in await repository.targets(session, indicator="connected_share"):
        if t.institution_type:
            continue
        if t.province_code:
            by_province[_target_province(t)][t.year] = t.value
        else:
            national[t.year] = t.value
    return national, by_province


def connection_of(inst: OversightInstitution, last_sync: datetime | None, now: datetime, window: timedelta) -> tuple[bool, str | None]:
    if inst.machine_clients_active <= 0:
        return False, "no_active_client"
    if last_sync is None:
        return False, "never_synced"
    if now - last_sync > window:
        return False, "sync_older_than_window"
    return True, None


async def board(session: AsyncSession, principal: Principal, *, now: datetime, window_days: int, weeks: int,
                province: str | None = None, kind: str | None = None) -> ConnectionBoard:
    provinces = provinces_for(principal, province)
    insts = [i for i in await repository.institutions(session, provinces) if kind is None or i.type == kind]
    codes = [i.code for i in insts]
    window = timedelta(days=window_days)
    last_sync = await repository.last_syncs(session, codes)
    errors = await repository.last_errors(session, codes)
    feed = await repository.feed_freshness(session, codes)
    diplomas = await repository.diplomas_freshness(session, codes)
    first_week = (now - timedelta(weeks=weeks - 1)).date()
    since = datetime.combine(first_week - timedelta(days=first_week.weekday()), datetime.min.time(), tzinfo=now.tzinfo)
    week_names = []
    day = since
    while day <= now:
        week_names.append(iso_week(day))
        day += timedelta(weeks=1)
    per_week: dict[str, dict[str, list[int]]] = defaultdict(lambda: {w: [0, 0] for w in week_names})
    for code, at, rows, rejected in await repository.jobs_since(session, codes, since):
        cell = per_week[code].setdefault(iso_week(at), [0, 0])
        cell[0] += rows
        cell[1] += rejected
    items = []
    for i in insts:
        connected, reason = connection_of(i, last_sync.get(i.code), now, window)
        job = errors.get(i.code)
        weeks_of = per_week[i.code] if i.code in per_week else {w: [0, 0] for w in week_names}
        items.append(ConnectionRow(
            code=i.code, name=i.name, type=i.type, ownership=i.ownership, province_code=i.province_code, status=i.status,
            latitude=i.latitude, longitude=i.longitude, machine_clients_active=i.machine_clients_active,
            last_sync_at=last_sync.get(i.code), connected=connected and i.status == "active",
            reason=reason if i.status == "active" else f"institution_{i.status}",
            diplomas_issued=diplomas.get(i.code, (None, 0))[1],
            freshness=Freshness(learners=feed.get((i.code, "learners")), grades=feed.get((i.code, "grades")),
                                diplomas=diplomas.get(i.code, (None, 0))[0], material=i.last_published_at),
            last_error=LastError(at=job.finished_at or job.created_at, job_id=job.id,
                                 message=job.error or f"{job.rejected} row(s) rejected") if job else None,
            weeks=[WeekRows(week=w, rows=v[0], rejected=v[1]) for w, v in sorted(weeks_of.items())],
        ))
    national, by_province = await connection_targets(session)
    groups: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for row in items:
        if row.status == "active":
            groups[(row.province_code, row.type)].append(row.connected)
    shares = [Share(province_code=p, type=t, institutions=len(v), connected=sum(v),
                    share=round(sum(v) / len(v), 4) if v else 0.0,
                    targets=(by_province.get(p) or national) if t in CONNECTION_TYPES else {})
              for (p, t), v in sorted(groups.items())]
    pulled = await repository.pulls(session)
    sources = [SourceFreshness(source=s, last_success_at=getattr(pulled.get(s), "last_success_at", None),
                               last_error=getattr(pulled.get(s), "last_error", None),
                               last_error_at=getattr(pulled.get(s), "last_error_at", None)) for s in ("identity", "learning")]
    return ConnectionBoard(as_of=now, window_days=window_days, provinces=sorted(provinces) if provinces is not None else None,
                           sources=sources, items=items, shares=shares)


BOARD_CSV_FIELDS = ["code", "name", "type", "ownership", "province_code", "status", "machine_clients_active", "connected",
                    "reason", "last_sync_at", "learners_at", "grades_at", "diplomas_at", "material_at", "diplomas_issued",
                    "last_error_at", "last_error", "rows_last_week", "rejected_last_week", "rows_in_window", "rejected_in_window"]


def board_csv_rows(result: ConnectionBoard) -> list[dict[str, Any]]:
    out = []
    for r in result.items:
        last = r.weeks[-1] if r.weeks else WeekRows(week="", rows=0, rejected=0)
        out.append({
            "code": r.code, "name": r.name, "type": r.type, "ownership": r.ownership, "province_code": r.province_code,
            "status": r.status, "machine_clients_active": r.machine_clients_active, "connected": "yes" if r.connected else "no",
            "reason": r.reason or "", "last_sync_at": _iso(r.last_sync_at), "learners_at": _iso(r.freshness.learners),
            "grades_at": _iso(r.freshness.grades), "diplomas_at": _iso(r.freshness.diplomas),
            "material_at": _iso(r.freshness.material), "diplomas_issued": r.diplomas_issued,
            "last_error_at": _iso(r.last_error.at) if r.last_error else "", "last_error": r.last_error.message if r.last_error else "",
            "rows_last_week": last.rows, "rejected_last_week": last.rejected,
            "rows_in_window": sum(w.rows for w in r.weeks), "rejected_in_window": sum(w.rejected for w in r.weeks),
        })
    return out


def _iso(at: datetime | None) -> str:
    return at.isoformat() if at else ""


# ---- targets -----------------------------------------------------------------------------------------------------

def ensure_ministry(principal: Principal) -> None:
    if not is_national(principal):
        raise Forbidden("Targets are set by the ministry.")


def target_read(t: OversightTarget) -> TargetRead:
    return TargetRead(id=t.id, source_decision=t.source_decision, indicator=t.indicator,
                      scope="province" if t.province_code else "national", province_code=t.province_code or None,
                      institution_type=t.institution_type or None, year=t.year, value=t.value, note=t.note,
                      created_by=t.created_by, created_at=t.created_at, updated_by=t.updated_by, updated_at=t.updated_at,
                      version=t.version)


def _target_state(t: OversightTarget) -> dict[str, Any]:
    return {"source_decision": t.source_decision, "indicator": t.indicator, "province_code": t.province_code or None,
            "institution_type": t.institution_type or None, "year": t.year, "value": t.value, "note": t.note}


def _audit(session: AsyncSession, entity: str, entity_id: uuid.UUID, action: str, who: str, now: datetime,
           before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    session.add(OversightAudit(entity=entity, entity_id=entity_id, action=action, actor=who, at=now, before=before, after=after))


def _province_or_error(code: str | None) -> str:
    if code is None:
        return ""
    if code not in province_list():
        raise ValidationFailed(f"{code} is not a province code.", errors=[{"field": "province_code", "message": "unknown province code"}])
    return code


async def list_targets(session: AsyncSession, principal: Principal, *, province: str | None, indicator: str | None,
                       year: int | None) -> list[TargetRead]:
    provinces = provinces_for(principal, province)
    rows = await repository.targets(session, indicator=indicator, year=year)
    if provinces is not None:
        rows = [t for t in rows if not t.province_code or _target_province(t) in provinces]
    return [target_read(t) for t in rows]


async def create_target(session: AsyncSession, principal: Principal, body: TargetCreate, *, now: datetime,
                        who: str | None = None) -> tuple[OversightTarget, bool]:
    """(target, created). The same source, indicator, scope, type and year again is a 409 naming the target,
    unless the value is the same (then it is returned as it is: a seed or a retry changes nothing)."""
    if who is None:
        ensure_ministry(principal)
    province = _province_or_error(body.province_code)
    existing = await repository.target_by_key(session, body.source_decision, body.indicator, province,
                                              body.institution_type or "", body.year)
    if existing is not None:
        if existing.value == body.value:
            return existing, False
        raise Conflict("That target exists; change it instead.", errors=[{"field": "year", "message": "target exists"}],
                       target_id=str(existing.id))
    t = OversightTarget(source_decision=body.source_decision, indicator=body.indicator, province_code=province,
                        institution_type=body.institution_type or "", year=body.year, value=body.value, note=body.note,
                        created_by=who or actor(principal), updated_by=who or actor(principal), version=1,
                        created_at=now, updated_at=now)
    session.add(t)
    await session.flush()
    _audit(session, "target", t.id, "created", t.created_by, now, None, _target_state(t))
    return t, True


async def _target(session: AsyncSession, target_id: uuid.UUID) -> OversightTarget:
    t = await repository.target(session, target_id)
    if t is None:
        raise NotFound(f"No target {target_id}.")
    return t


async def update_target(session: AsyncSession, principal: Principal, target_id: uuid.UUID, body: TargetUpdate, *,
                        now: datetime, if_match: str | None) -> OversightTarget:
    ensure_ministry(principal)
    t = await _target(session, target_id)
    if if_match is not None and if_match.strip() != f'"t{t.version}"':
        from services.common.errors import PreconditionFailed

        raise PreconditionFailed("The target changed since you read it.")
    before = _target_state(t)
    for field, value in body.model_dump(exclude_unset=True).items():
        if value is None and field != "note":
            raise ValidationFailed(f"{field} cannot be null.", errors=[{"field": field, "message": "cannot be null"}])
        setattr(t, field, value)
    if _target_state(t) != before:
        t.version += 1
        t.updated_by, t.updated_at = actor(principal), now
        _audit(session, "target", t.id, "updated", actor(principal), now, before, _target_state(t))
    await session.flush()
    return t


async def delete_target(session: AsyncSession, principal: Principal, target_id: uuid.UUID, *, now: datetime) -> None:
    ensure_ministry(principal)
    t = await _target(session, target_id)
    _audit(session, "target", t.id, "deleted", actor(principal), now, _target_state(t), None)
    await session.delete(t)


async def target_history(session: AsyncSession, principal: Principal, target_id: uuid.UUID) -> list[OversightAudit]:
    scope_of(principal)
    return await repository.audit_of(session, "target", target_id)


# ---- entered values ----------------------------------------------------------------------------------------------

async def enter_value(session: AsyncSession, principal: Principal, indicator: str, year: int, province: str | None,
                      body: ValueIn, *, now: datetime) -> IndicatorValue:
    spec = INDICATORS.get(indicator)
    if spec is None:
        raise NotFound(f"No indicator {indicator}.")
    if spec.computed:
        raise Conflict(f"{indicator} is computed from the platform's data; it cannot be entered.",
                       errors=[{"field": "indicator", "message": "computed"}])
    if spec.unit == "share" and body.value > 1:
        raise ValidationFailed("A share is a fraction between 0 and 1.", errors=[{"field": "value", "message": "at most 1"}])
    mine = scope_of(principal)
    code = current_province(_province_or_error(province)) if province else ""
    if mine is not None and code not in mine:
        raise Forbidden("Province officers enter values of their own province." if code else
                        "National values are entered by the ministry.")
    row = await repository.value(session, indicator, code, year)
    before = None
    if row is None:
        row = IndicatorValue(indicator=indicator, province_code=code, year=year, value=body.value, note=body.note,
                             entered_by=actor(principal), entered_at=now, created_at=now, updated_at=now)
        session.add(row)
        await session.flush()
    else:
        before = {"value": row.value, "note": row.note, "entered_by": row.entered_by, "entered_at": row.entered_at.isoformat()}
        row.value, row.note, row.entered_by, row.entered_at, row.updated_at = body.value, body.note, actor(principal), now, now
    _audit(session, "indicator_value", row.id, "updated" if before else "created", actor(principal), now, before,
           {"indicator": indicator, "province_code": code or None, "year": year, "value": body.value, "note": body.note})
    return row


# ---- indicators --------------------------------------------------------------------------------------------------

class Scope:
    """The institutions of one scope (a province, or the nation) and what was computed for it."""

    def __init__(self, province: str, insts: list[OversightInstitution]) -> None:
        self.province = province
        self.insts = [i for i in insts if i.status == "active"]
        self.codes = [i.code for i in insts]


def _share(num: float, den: float) -> float | None:
    return round(min(1.0, num / den), 4) if den else None


async def state_values(session: AsyncSession, scope: Scope, *, now: datetime, window_days: int) -> dict[str, tuple[float | None, float, float]]:
    """The state indicators now: (value, numerator, denominator)."""
    targeted = [i for i in scope.insts if i.type in CONNECTION_TYPES]
    last = await repository.last_syncs(session, [i.code for i in targeted])
    connected = sum(connection_of(i, last.get(i.code), now, timedelta(days=window_days))[0] for i in targeted)
    teachers = sum(i.teachers or 0 for i in scope.insts)
    trained = sum(i.teachers_digital_completed for i in scope.insts)
    covered_pool = [i for i in scope.insts if i.type in SOFT_SKILLS_TYPES]
    covered = sum(1 for i in covered_pool if i.students_completed > 0)
    digital, programmes = await repository.programmes_digital(session, [i.code for i in scope.insts]) if scope.insts else (0, 0)
    return {
        "outcomes_digital_share": (_share(digital, programmes), digital, programmes),
        "connected_share": (_share(connected, len(targeted)), connected, len(targeted)),
        "teachers_digital_trained_share": (_share(trained, teachers), trained, teachers),
        "soft_skills_coverage": (_share(covered, len(covered_pool)), covered, len(covered_pool)),
    }


async def year_values(session: AsyncSession, scope: Scope, years: list[int]) -> dict[tuple[str, int], tuple[float | None, float | None, float | None]]:
    """The indicators counted over a year, for each year."""
    counts = await repository.new_enrolments(session, scope.codes, years) if scope.codes else {}
    out: dict[tuple[str, int], tuple[float | None, float | None, float | None]] = {}
    def total(y: int, levels: tuple[str, ...] | None = None, sex: str | None = None) -> int:
        return sum(n for (yy, level, s), n in counts.items()
                   if yy == y and (levels is None or level in levels) and (sex is None or s == sex))

    for y in years:
        everyone = total(y)
        out[("trainees_total", y)] = (float(everyone), None, None)
        out[("trainees_college", y)] = (float(total(y, ("college",))), None, None)
        out[("trainees_intermediate", y)] = (float(total(y, ("intermediate",))), None, None)
        out[("trainees_college_intermediate", y)] = (float(total(y, ("college", "intermediate"))), None, None)
        out[("trainees_elementary_short", y)] = (float(total(y, ("elementary", "short_course"))), None, None)
        women = total(y, sex="female")
        out[("female_share_new_enrolments", y)] = (_share(women, everyone), women, everyone)
        if scope.codes:
            graduates = await repository.graduates_of_year(session, scope.codes, y)
            diplomas = await repository.diplomas_of_year(session, scope.codes, y)
        else:
            graduates = diplomas = 0
        out[("digitised_diplomas_share", y)] = (_share(diplomas, graduates), diplomas, graduates)
    return out


async def indicators(session: AsyncSession, principal: Principal, *, now: datetime, window_days: int,
                     province: str | None, year: int | None) -> IndicatorReport:
    provinces = provinces_for(principal, province)
    if provinces is not None and len(provinces) != 1:
        raise ValidationFailed("Name the province to report on.", errors=[{"field": "province", "message": "required"}])
    code = next(iter(provinces)) if provinces is not None else ""
    year = year or now.year
    years = list(range(min(FIRST_YEAR, year), max(year, now.year) + 1))
    scope = Scope(code, await repository.institutions(session, [code] if code else None))
    state = await state_values(session, scope, now=now, window_days=window_days)
    counted = await year_values(session, scope, years)
    entered = {(v.indicator, v.year): v for v in await repository.values(session, [code])}
    snaps = {(s.indicator, s.year): s.value for s in await repository.snapshots(session, [code])}
    targets = [t for t in await repository.targets(session)
               if not t.province_code or (code and _target_province(t) == code)]
    def at(spec: Any, y: int) -> tuple[float | None, str, float | None, float | None]:
        """(value, how it was obtained, numerator, denominator) of an indicator in a year."""
        if spec.code in STATE_INDICATORS:
            if y == now.year:
                now_value, num, den = state[spec.code]
                return now_value, "computed", num, den
            return snaps.get((spec.code, y)), "snapshot" if (spec.code, y) in snaps else "none", None, None
        if spec.computed:
            year_value, part, whole = counted.get((spec.code, y), (None, None, None))
            return year_value, "computed", part, whole
        e = entered.get((spec.code, y))
        return (e.value, "entered", None, None) if e else (None, "none", None, None)

    cards = []
    for spec in INDICATORS.values():
        value, source, num, den = at(spec, year)
        e = entered.get((spec.code, year)) if source == "entered" else None
        points = [TargetPoint(source_decision=t.source_decision, year=t.year, value=t.value,
                              institution_type=t.institution_type or None, scope="province" if t.province_code else "national")
                  for t in targets if t.indicator == spec.code]
        cards.append(IndicatorCard(code=spec.code, name=spec.name, unit=spec.unit, computed=spec.computed, basis=spec.basis,
                                   year=year, value=value, source=source, numerator=num, denominator=den,
                                   entered_by=e.entered_by if e else None, entered_at=e.entered_at if e else None,
                                   targets=points, trend={y: at(spec, y)[0] for y in years}))
    return IndicatorReport(scope=f"province:{code}" if code else "national", year=year, as_of=now, cards=cards)


async def record_snapshots(session: AsyncSession, *, now: datetime, window_days: int) -> int:
    """The state indicators of this year, for the nation and each province, kept for the trend of later years."""
    insts = await repository.institutions(session)
    scopes = [Scope("", insts)] + [Scope(p, [i for i in insts if i.province_code == p])
                                   for p in sorted({i.province_code for i in insts})]
    n = 0
    for scope in scopes:
        for indicator, (value, _, _) in (await state_values(session, scope, now=now, window_days=window_days)).items():
            if value is not None:
                await repository.save_snapshot(session, indicator, scope.province, now.year, value, now)
                n += 1
    return n
