"""Reference data: the national occupation list (loaded from CSV) and grading policies (rules as data)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import IO, Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import Conflict, NotFound, ValidationFailed
from services.common.text import fold
from services.records.catalogue import repository
from services.records.grading.rules import GradingPolicy
from services.records.models import GradingPolicyRow, Occupation

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "occupations.csv"
LEVEL_BY_DIGIT = {"5": "intermediate", "6": "college"}


def parse_occupations(stream: IO[str]) -> list[Occupation]:
    """``code,name`` rows; codes are 7 digits beginning with 5 (trung cấp) or 6 (cao đẳng). All rows or none."""
    reader = csv.DictReader(stream)
    if not {"code", "name"} <= set(reader.fieldnames or []):
        raise ValidationFailed("The occupation file needs the columns code and name.", errors=[{"row": 1, "field": "code", "message": "missing column"}])
    out, errors = [], []
    for row in reader:
        code, name = (row.get("code") or "").strip(), (row.get("name") or "").strip()
        if len(code) != 7 or not code.isdigit() or code[0] not in LEVEL_BY_DIGIT:
            errors.append({"row": reader.line_num, "field": "code", "message": "7 digits beginning with 5 (trung cấp) or 6 (cao đẳng)"})
        elif not name:
            errors.append({"row": reader.line_num, "field": "name", "message": "required"})
        else:
            out.append(Occupation(code=code, name=name, level=LEVEL_BY_DIGIT[code[0]]))
    if errors:
        raise ValidationFailed(f"{len(errors)} row(s) are not valid; nothing was loaded.", errors=errors)
    return out


async def upsert_occupations(session: AsyncSession, rows: list[Occupation]) -> dict[str, int]:
    existing = {o.code: o for o in await repository.occupations(session)}
    created = updated = 0
    for row in rows:
        current = existing.get(row.code)
        if current is None:
            session.add(row)
            existing[row.code] = row
            created += 1
        elif current.name != row.name:
            current.name = row.name
            updated += 1
    await session.flush()
    return {"created": created, "updated": updated, "unchanged": len(rows) - created - updated}


async def load_occupations(session: AsyncSession) -> None:
    """Loads the shipped sample list on start-up when the table is empty (the full list comes by import)."""
    if await repository.any_occupation(session):
        return
    with SAMPLE.open(encoding="utf-8") as f:
        await upsert_occupations(session, parse_occupations(f))


def decode_upload(raw: bytes) -> io.StringIO:
    try:
        return io.StringIO(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ValidationFailed("The file is not UTF-8 text.", errors=[{"row": 0, "field": "file", "message": "not UTF-8"}]) from None


async def list_occupations(session: AsyncSession, level: str | None, q: str | None) -> list[Occupation]:
    """The national occupation list, of one level, whose name contains ``q`` (accents and case aside) or whose code
    begins with it."""
    rows = await repository.occupations(session, level)
    if q:
        needle = fold(q)
        rows = [o for o in rows if needle in fold(o.name) or o.code.startswith(q)]
    return rows


async def list_policies(session: AsyncSession) -> list[dict[str, Any]]:
    return [r.rules for r in await repository.policies(session)]


async def get_policy(session: AsyncSession, code: str) -> dict[str, Any]:
    row = await repository.policy(session, code)
    if row is None:
        raise NotFound(f"No grading policy {code}.")
    return row.rules


async def create_policy(session: AsyncSession, body: dict[str, Any]) -> dict[str, Any]:
    """A new grading policy (a corrected circular gets a new code: policies are never edited)."""
    try:
        policy = GradingPolicy.from_dict(body)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationFailed("The grading policy is not valid.", errors=[{"field": "body", "message": str(exc)}]) from None
    if await repository.policy(session, policy.code) is not None:
        raise Conflict(f"Grading policy {policy.code} exists; policies are never edited, add a new code.")
    session.add(GradingPolicyRow(code=policy.code, rules=policy.to_dict()))
    return policy.to_dict()
