"""Reference data: the national occupation list (loaded from CSV) and grading policies (rules as data)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import IO

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import ValidationFailed
from services.records.models import Occupation

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
    existing = {o.code: o for o in (await session.scalars(select(Occupation))).all()}
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
    if await session.scalar(select(Occupation.code).limit(1)) is not None:
        return
    with SAMPLE.open(encoding="utf-8") as f:
        await upsert_occupations(session, parse_occupations(f))


def decode_upload(raw: bytes) -> io.StringIO:
    try:
        return io.StringIO(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ValidationFailed("The file is not UTF-8 text.", errors=[{"row": 0, "field": "file", "message": "not UTF-8"}]) from None
