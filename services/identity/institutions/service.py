"""Registry rules: who may change which institution, province codes across the 2025 merger, links between
institutions, all-or-nothing CSV import, GeoJSON for the map."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import IO, Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.errors import Conflict, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from services.common.permissions import may_manage_province
from services.common.text import fold
from services.identity.audit import service as audit
from services.identity.institutions import repository
from services.identity.institutions.schemas import ImportResult, InstitutionCreate, InstitutionRead, InstitutionUpdate
from services.identity.models import Institution
from services.identity.persons.numbers import current_province, provinces

FIELDS = list(InstitutionCreate.model_fields)
MAX_IMPORT_ROWS = 20_000


def province_or_error(code: str, field: str = "province_code") -> str:
    if code not in provinces():
        raise ValidationFailed(f"{code} is not a province code.", errors=[{"field": field, "message": "unknown province code"}])
    return current_province(code)


def etag(inst: Institution) -> str:
    return f'"v{inst.version}"'


def ensure_may_manage(principal: Principal, province_code: str) -> None:
    if not may_manage_province(principal, province_code):
        raise Forbidden(f"You may not manage institutions of province {province_code}.")


def _check_links(values: dict[str, Any], known: set[str]) -> list[dict[str, str]]:
    errors = []
    for field in ("parent_code", "merged_into_code"):
        ref = values.get(field)
        if ref and ref not in known:
            errors.append({"field": field, "message": f"no institution {ref}"})
        if ref and ref == values.get("code"):
            errors.append({"field": field, "message": "an institution cannot point at itself"})
    if values.get("status") == "merged" and not values.get("merged_into_code"):
        errors.append({"field": "merged_into_code", "message": "required when status is merged"})
    return errors


def _snapshot(inst: Institution) -> dict[str, Any]:
    return InstitutionRead.model_validate(inst).model_dump(mode="json", exclude={"id", "created_at", "updated_at", "version"})


async def create(session: AsyncSession, principal: Principal, body: InstitutionCreate) -> Institution:
    values = body.model_dump()
    values["province_code"] = province_or_error(body.province_code)
    ensure_may_manage(principal, values["province_code"])
    if await repository.by_code(session, body.code) is not None:
        raise Conflict(f"Institution {body.code} already exists.", errors=[{"field": "code", "message": "already registered"}])
    refs = {v for v in (body.parent_code, body.merged_into_code) if v}
    errors = _check_links(values, set(await repository.by_codes(session, refs)))
    if errors:
        raise ValidationFailed("The institution's links are not valid.", errors=errors)
    inst = Institution(**values, name_folded=fold(body.name), version=1)
    session.add(inst)
    await session.flush()
    audit.record(session, actor=principal, action="institution.created", target_type="institution", target_id=inst.code, details=_snapshot(inst))
    return inst


async def update(session: AsyncSession, principal: Principal, code: str, body: InstitutionUpdate, if_match: str | None) -> Institution:
    inst = await repository.by_code(session, code)
    if inst is None:
        raise NotFound(f"No institution {code}.")
    ensure_may_manage(principal, inst.province_code)
    if if_match is not None and if_match.strip() not in (etag(inst), "*"):
        raise PreconditionFailed(f"Institution {code} was changed by someone else (now {etag(inst)}); reload and retry.")
    changes = body.model_dump(exclude_unset=True)
    for required in ("name", "type", "ownership", "province_code", "status"):
        if required in changes and changes[required] is None:
            raise ValidationFailed(f"{required} cannot be cleared.", errors=[{"field": required, "message": "cannot be null"}])
    if "province_code" in changes:
        changes["province_code"] = province_or_error(changes["province_code"])
        ensure_may_manage(principal, changes["province_code"])
    merged = _snapshot(inst) | changes
    refs = {v for v in (merged.get("parent_code"), merged.get("merged_into_code")) if v}
    errors = _check_links(merged | {"code": code}, set(await repository.by_codes(session, refs)))
    if errors:
        raise ValidationFailed("The institution's links are not valid.", errors=errors)
    before = _snapshot(inst)
    for field, value in changes.items():
        setattr(inst, field, value)
    if "name" in changes:
        inst.name_folded = fold(inst.name)
    inst.version += 1
    await session.flush()
    diff = {k: {"old": before.get(k), "new": v} for k, v in _snapshot(inst).items() if before.get(k) != v}
    audit.record(session, actor=principal, action="institution.updated", target_type="institution", target_id=code, details=diff)
    return inst


def _rows(text_stream: IO[str]) -> Iterable[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(text_stream)
    missing = {"code", "name", "type", "province_code"} - set(reader.fieldnames or [])
    if missing:
        raise ValidationFailed(
            "The CSV header lacks required columns.",
            errors=[{"row": 1, "field": f, "message": "missing column"} for f in sorted(missing)],
        )
    unknown = set(reader.fieldnames or []) - set(FIELDS)
    if unknown:
        raise ValidationFailed(
            "The CSV header has unknown columns.",
            errors=[{"row": 1, "field": f, "message": "unknown column"} for f in sorted(unknown)],
        )
    for row in reader:
        yield reader.line_num, {k: v for k, v in row.items() if k is not None}


async def import_csv(session: AsyncSession, principal: Principal, binary: IO[bytes]) -> ImportResult:
    """Validate every row first; apply all of them or none. Rows are upserts by code."""
    text_stream = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
    parsed: list[tuple[int, InstitutionCreate]] = []
    errors: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    try:
        for line, raw in _rows(text_stream):
            if len(parsed) + len(errors) >= MAX_IMPORT_ROWS:
                raise ValidationFailed(f"At most {MAX_IMPORT_ROWS} rows per file.", errors=[{"row": line, "field": "", "message": "too many rows"}])
            values = {k: (v.strip() if v and v.strip() else None) for k, v in raw.items()}
            values = {k: v for k, v in values.items() if v is not None}
            try:
                item = InstitutionCreate.model_validate(values)
            except ValidationError as exc:
                errors += [{"row": line, "field": ".".join(str(p) for p in e["loc"]) or "", "message": e["msg"]} for e in exc.errors()]
                continue
            if item.province_code not in provinces():
                errors.append({"row": line, "field": "province_code", "message": "unknown province code"})
                continue
            if item.code in seen:
                errors.append({"row": line, "field": "code", "message": f"duplicate of row {seen[item.code]}"})
                continue
            seen[item.code] = line
            item.province_code = current_province(item.province_code)
            if not may_manage_province(principal, item.province_code):
                errors.append({"row": line, "field": "province_code", "message": f"you may not manage province {item.province_code}"})
                continue
            parsed.append((line, item))
    except UnicodeDecodeError:
        raise ValidationFailed("The file is not UTF-8 text.", errors=[{"row": 0, "field": "", "message": "not UTF-8"}]) from None
    finally:
        text_stream.detach()
    existing = await repository.by_codes(session, [i.code for _, i in parsed] + [c for _, i in parsed for c in (i.parent_code, i.merged_into_code) if c])
    known = set(existing) | set(seen)
    for line, item in parsed:
        current = existing.get(item.code)
        if current is not None and not may_manage_province(principal, current.province_code):
            errors.append({"row": line, "field": "code", "message": f"{item.code} belongs to a province you may not manage"})
        errors += [{"row": line, **e} for e in _check_links(item.model_dump(), known)]
    if errors:
        errors.sort(key=lambda e: e["row"])
        raise ValidationFailed(f"{len({e['row'] for e in errors})} row(s) are not valid; nothing was imported.", errors=errors)
    result = ImportResult(created=0, updated=0, unchanged=0)
    for _, item in parsed:
        values = item.model_dump()
        current = existing.get(item.code)
        if current is None:
            inst = Institution(**values, name_folded=fold(item.name), version=1)
            session.add(inst)
            result.created += 1
            audit.record(session, actor=principal, action="institution.created", target_type="institution", target_id=item.code, details={"source": "csv"})
            continue
        before = _snapshot(current)
        after = InstitutionRead.model_validate(current).model_dump(mode="json") | item.model_dump(mode="json")
        diff = {k: {"old": before[k], "new": after[k]} for k in before if before[k] != after.get(k)}
        if not diff:
            result.unchanged += 1
            continue
        for field, value in values.items():
            setattr(current, field, value)
        current.name_folded = fold(current.name)
        current.version += 1
        result.updated += 1
        audit.record(session, actor=principal, action="institution.updated", target_type="institution", target_id=item.code, details=diff | {"source": "csv"})
    await session.flush()
    return result


def to_feature(inst: Institution) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": inst.code,
        "geometry": {"type": "Point", "coordinates": [inst.longitude, inst.latitude]},
        "properties": {
            "code": inst.code,
            "name": inst.name,
            "type": inst.type,
            "ownership": inst.ownership,
            "province_code": inst.province_code,
            "address": inst.address,
            "status": inst.status,
        },
    }
