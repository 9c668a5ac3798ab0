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

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.db import utcnow
from services.common.errors import Forbidden
from services.common.permissions import INSTITUTION_STAFF, is_national_officer, provinces_of
from services.common.privacy import masked_key
from services.records.access import is_platform_admin, is_service, may_see_numbers
from services.records.changes import repository
from services.records.changes.schemas import ChangeRead

#: on PostgreSQL, this many entries or more are written with COPY (a sync chunk's), fewer with one INSERT
COPY_FROM = 50


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
        last = await repository.take_versions(session, n)
        first = last - n + 1
        now = utcnow()
        if n >= COPY_FROM and repository.dialect(session) == "postgresql":
            await repository.copy_changes(session, [
                (first + i, e["institution_code"], e["entity"], e["operation"], e["key_json"] or flat_json(e["key"]),
                 None if e["old_key"] is None else flat_json(e["old_key"]), now)
                for i, e in enumerate(self.entries)
            ])
        else:
            await repository.insert_changes(session, [
                {"version": first + i, "changed_at": now, "institution_code": e["institution_code"], "entity": e["entity"],
                 "operation": e["operation"], "key": e["key"], "old_key": e["old_key"]} for i, e in enumerate(self.entries)
            ])
        self.entries.clear()


async def readable_institutions(session: AsyncSession, principal: Principal) -> set[str] | None:
    """The institutions whose changes the caller may read; None: all of them."""
    if is_platform_admin(principal) or is_national_officer(principal) or is_service(principal):
        return None
    if not principal.has_scope("records:read"):
        raise Forbidden("The change feed needs the records:read scope.")
    scope = {code for code, roles in principal.roles.items() if set(roles) & INSTITUTION_STAFF}
    provinces = provinces_of(principal)
    if provinces:
        scope |= await repository.institutions_in(session, provinces)
    if not scope:
        raise Forbidden("You may not read the change feed.")
    return scope


async def page(session: AsyncSession, principal: Principal, since: int, limit: int) -> tuple[list[ChangeRead], int]:
    """Up to ``limit`` changes after version ``since`` that the caller may read, and the highest version handed out
    so far; personal ID numbers in natural keys follow the rule of every other representation
    (:func:`services.records.access.may_see_numbers`)."""
    scope = await readable_institutions(session, principal)
    rows = await repository.since(session, since, limit, scope)
    items = [ChangeRead.model_validate(r, from_attributes=True) for r in rows]
    provinces = await repository.provinces_of(session, {i.institution_code for i in items}) if items else {}
    for item in items:
        if not may_see_numbers(principal, provinces.get(item.institution_code), institution_code=item.institution_code):
            item.key, item.old_key = masked_key(item.key) or {}, masked_key(item.old_key)
    return items, await repository.latest(session)
