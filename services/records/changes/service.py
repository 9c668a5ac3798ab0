"""The change feed, in the style of Ed-Fi change queries.

A writer collects its changes in a :class:`ChangeLog` and calls :meth:`ChangeLog.flush` just before its
transaction commits (a sync chunk's entries go in with ``COPY`` on PostgreSQL): one ``UPDATE change_counter SET value = value + n`` hands out ``n`` versions and keeps the
counter row locked until commit, so transactions commit their versions in increasing order and a reader that has
seen version ``v`` will never later find a version ``< v`` appear. A consumer follows with ``since=<last seen>``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import utcnow
from services.records.models import Change

#: on PostgreSQL, this many entries or more are written with COPY (a sync chunk's), fewer with one INSERT
COPY_FROM = 50
COLUMNS = ("version", "institution_code", "entity", "operation", "key", "old_key", "changed_at")


def flat_json(key: dict[str, Any]) -> str:
    """JSON of a flat object of strings (a natural key, a grade's components), as ``json.dumps`` writes it, without
    the encoder's cost when no value needs escaping."""
    try:
        joined = "".join(key) + "".join(key.values())
    except TypeError:  # a value that is no string
        return json.dumps(key)
    if '"' in joined or "\\" in joined or not joined.isprintable():
        return json.dumps(key)
    return "{" + ", ".join([f'"{k}": "{v}"' for k, v in key.items()]) + "}"


@dataclass
class ChangeLog:
    entries: list[dict[str, Any]] = field(default_factory=list)

    def add(self, institution_code: str, entity: str, operation: str, key: dict[str, Any], old_key: dict[str, Any] | None = None,
            *, key_json: str | None = None) -> None:
        """``key_json``: ``flat_json(key)`` when the caller made it already (a sync prepares it with the row)."""
        self.entries.append(
            {"institution_code": institution_code, "entity": entity, "operation": operation, "key": key, "old_key": old_key,
             "key_json": key_json}
        )

    async def flush(self, session: AsyncSession) -> None:
        if not self.entries:
            return
        n = len(self.entries)
        last = (await session.execute(
            text("UPDATE change_counter SET value = value + :n WHERE id = 1 RETURNING value"), {"n": n}
        )).scalar_one()
        first = last - n + 1
        now = utcnow()
        if n >= COPY_FROM and session.bind.dialect.name == "postgresql":
            conn = await session.connection()
            driver = (await conn.get_raw_connection()).driver_connection
            await driver.copy_records_to_table("changes", columns=COLUMNS, records=[
                (first + i, e["institution_code"], e["entity"], e["operation"], e["key_json"] or flat_json(e["key"]),
                 None if e["old_key"] is None else flat_json(e["old_key"]), now)
                for i, e in enumerate(self.entries)
            ])
        else:
            await session.execute(
                insert(Change),
                [{"version": first + i, "changed_at": now, "institution_code": e["institution_code"], "entity": e["entity"],
                  "operation": e["operation"], "key": e["key"], "old_key": e["old_key"]} for i, e in enumerate(self.entries)],
            )
        self.entries.clear()


async def since(session: AsyncSession, version: int, limit: int, institutions: set[str] | None) -> list[Change]:
    stmt = select(Change).where(Change.version > version).order_by(Change.version).limit(limit)
    if institutions is not None:
        stmt = stmt.where(Change.institution_code.in_(institutions))
    return list((await session.scalars(stmt)).all())


async def latest(session: AsyncSession) -> int:
    return int((await session.execute(text("SELECT value FROM change_counter WHERE id = 1"))).scalar_one())
