"""Learning outcomes (chuẩn đầu ra) of programmes and modules, and the statistic Decision 2222/QĐ-TTg sets targets
for: the share of programmes whose learning outcomes integrate digital competence (70% by 2025, 100% by 2030).

A programme's outcomes are replaced as a set (``PUT``): sending the same set again changes nothing, an outcome kept
by code keeps its id. A programme counts as integrating digital competence when at least one of its outcomes (of the
programme or of one of its modules) carries the flag. The targets are data: the ``outcomes_digital_share`` rows of
the oversight targets (national, or a province's own), Decision 2222's two when none are loaded."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.errors import Conflict, NotFound, ValidationFailed
from services.records import access
from services.records.models import InstitutionRef, LearningOutcome, Programme
from services.records.outcomes import repository
from services.records.outcomes.schemas import (
    DigitalShareReport,
    DigitalShareRow,
    OutcomeRead,
    OutcomesIn,
    ProgrammeOutcomes,
    Target,
)
from services.records.oversight.service import provinces_for

INDICATOR = "outcomes_digital_share"
#: Decision 2222/QĐ-TTg's targets, when no target rows are loaded
DEFAULT_TARGETS = [("2222/QĐ-TTg", "", 2025, 0.7), ("2222/QĐ-TTg", "", 2030, 1.0)]


async def _flush(session: AsyncSession) -> None:
    """Flush; a unique key taken meanwhile by a concurrent request (the same write sent twice at once) is a 409 —
    sent again, the write finds what the other made — not a 500."""
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict("The same change was being made by another request at the same time; send it again.") from None


async def programme_of(session: AsyncSession, institution_code: str, programme_code: str) -> Programme:
    p = await repository.programme(session, institution_code, programme_code)
    if p is None:
        raise NotFound(f"No programme {programme_code} at {institution_code}.")
    return p


async def outcomes_read(session: AsyncSession, p: Programme) -> ProgrammeOutcomes:
    modules = {m.id: m.code for m in await repository.modules_of(session, p.id)}
    rows = await repository.outcomes_of(session, p.id)
    return ProgrammeOutcomes(
        institution_code=p.institution_code, programme_code=p.code,
        outcomes=[OutcomeRead(id=o.id, code=o.code, text=o.text, vqf_level=o.vqf_level, digital_competence=o.digital_competence,
                              module_code=modules.get(o.module_id) if o.module_id else None) for o in rows],
        integrates_digital_competence=any(o.digital_competence for o in rows),
    )


async def put_outcomes(session: AsyncSession, p: Programme, body: OutcomesIn) -> tuple[ProgrammeOutcomes, bool]:
    """Replace the programme's outcomes with ``body``'s; (what it has now, whether anything changed)."""
    modules = {m.code: m.id for m in await repository.modules_of(session, p.id)}
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, o in enumerate(body.outcomes):
        if o.code in seen:
            errors.append({"field": f"outcomes[{i}].code", "message": f"{o.code} is listed twice"})
        seen.add(o.code)
        if o.module_code is not None and o.module_code not in modules:
            errors.append({"field": f"outcomes[{i}].module_code", "message": f"programme {p.code} has no module {o.module_code}"})
    if errors:
        raise ValidationFailed(f"The outcomes of programme {p.code} are not valid.", errors=errors)
    existing = {o.code: o for o in await repository.outcomes_of(session, p.id)}
    changed = False
    for position, o in enumerate(body.outcomes):
        values = {"text": o.text, "vqf_level": o.vqf_level, "digital_competence": o.digital_competence,
                  "module_id": modules[o.module_code] if o.module_code else None, "position": position}
        row = existing.pop(o.code, None)
        if row is None:
            session.add(LearningOutcome(id=uuid.uuid4(), programme_id=p.id, code=o.code, **values))
            changed = True
        elif any(getattr(row, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(row, k, v)
            changed = True
    if existing:
        await repository.delete_outcomes(session, (o.id for o in existing.values()))
        changed = True
    if changed:
        p.version += 1
    await _flush(session)
    return await outcomes_read(session, p), changed


# -- the statistic ---------------------------------------------------------------------------------------------------
def _rate(n: int, d: int) -> float | None:
    return round(n / d, 4) if d else None


async def _targets(session: AsyncSession) -> list[tuple[str, str, int, float]]:
    rows = await repository.targets(session, INDICATOR)
    return [(t.source_decision, t.province_code, t.year, t.value) for t in rows] or DEFAULT_TARGETS


def _row(group: dict[str, str | None], members: list[dict[str, Any]], targets: Iterable[tuple[str, str, int, float]]) -> DigitalShareRow:
    digital = sum(1 for m in members if m["digital"])
    share = _rate(digital, len(members))
    province = group.get("province")
    applicable = [t for t in targets if t[1] == "" or (province is not None and t[1] == province)]
    return DigitalShareRow(
        group=group, programmes=len(members), with_outcomes=sum(1 for m in members if m["outcomes"]), digital=digital, share=share,
        targets=[Target(source_decision=s, year=y, value=v, met=share is not None and share >= v) for s, _, y, v in applicable],
    )


async def digital_share(session: AsyncSession, principal: Principal, by: str, inst: InstitutionRef | None,
                        province: str | None) -> DigitalShareReport:
    """Per institution or per province, with the total of what the caller may see: an institution's staff their own
    institution (``inst``), officers their provinces, national officers everything."""
    if inst is not None:
        access.ensure_read(principal, inst)
        rows = await repository.programme_rows(session, [inst.code], None)
    else:
        rows = await repository.programme_rows(session, None, provinces_for(principal, province))
    targets = await _targets(session)
    groups: dict[tuple[str | None, ...], list[dict[str, Any]]] = {}
    for r in rows:
        key: tuple[str | None, ...] = (r["institution"], r["province"]) if by == "institution" else (r["province"],)
        groups.setdefault(key, []).append(r)
    items = []
    for key in sorted(groups, key=lambda k: tuple(x or "" for x in k)):
        group = {"institution": key[0], "province": key[1]} if by == "institution" else {"province": key[0]}
        items.append(_row(group, groups[key], targets))
    total_province = province if province else (inst.province_code if inst is not None else None)
    total = _row({"province": total_province} if total_province else {}, rows, targets)
    return DigitalShareReport(by="institution" if by == "institution" else "province", items=items, total=total)
