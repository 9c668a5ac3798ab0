"""Cursor pagination: ``?limit=&cursor=`` → ``{"items": [...], "next_cursor": ...}``.

The cursor is an opaque, URL-safe encoding of the sort key of the last item (e.g. ``(created_at, id)``), so
pages stay stable while rows are inserted and cost the same at any depth (keyset pagination)."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select, TypeDecorator, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import ValidationFailed

T = TypeVar("T")
MAX_LIMIT = 500
#: what a 64-bit integer column holds
_INT64 = range(-(2**63), 2**63)


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int = 50
    cursor: str | None = None


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")] = 50,
    cursor: Annotated[str | None, Query(description="opaque cursor from next_cursor")] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


PageDep = Annotated[PageParams, Depends(page_params)]


def _encode_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return {"t": v.isoformat()}
    if isinstance(v, UUID):
        return {"u": str(v)}
    return v


def _decode_value(v: Any) -> Any:
    """One value as :func:`_encode_value` wrote it: a timestamp with its zone, a UUID, a 64-bit integer, a finite
    number, a string; anything else (a cursor made up by hand) raises."""
    if isinstance(v, dict):
        if set(v) == {"t"}:
            moment = datetime.fromisoformat(v["t"])
            if moment.tzinfo is None:
                raise ValueError("a timestamp without its zone")
            return moment
        if set(v) == {"u"}:
            return UUID(v["u"])
    elif isinstance(v, bool) or v is None:
        pass
    elif isinstance(v, int) and v in _INT64:
        return v
    elif isinstance(v, float) and math.isfinite(v):
        return v
    elif isinstance(v, str):
        return v
    raise ValueError("not a cursor value")


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([_encode_value(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _malformed() -> ValidationFailed:
    return ValidationFailed(
        "The cursor is not valid; use next_cursor from a previous page.",
        errors=[{"field": "cursor", "in": "query", "message": "malformed cursor"}],
    )


def decode_cursor(cursor: str, size: int) -> list[Any]:
    """The ``size`` values of a cursor; a 422 problem naming ``cursor`` for anything that is not one."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(raw, list) or len(raw) != size:
            raise ValueError
        return [_decode_value(v) for v in raw]
    except Exception:
        raise _malformed() from None


def _python_type(key: Any) -> type | None:
    column_type = key.type
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    try:
        python_type: type = column_type.python_type
    except NotImplementedError:
        return None
    return python_type


def _fits(value: Any, key: Any) -> bool:
    """A cursor value can be compared with its key column: of the column's type (a timestamp with its zone, an
    integer in range); a cursor made up by hand gets a 422, never an error from the database."""
    expected = _python_type(key)
    if expected is None or expected is object:
        return isinstance(value, (str, int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool) and value in _INT64
    if expected is datetime:
        return isinstance(value, datetime) and value.tzinfo is not None
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, expected)


def cursor_after(params: PageParams, keys: Sequence[Any]) -> list[Any] | None:
    """The key values a page continues after (None: the first page); a 422 naming ``cursor`` for a cursor that is
    not one of these keys'."""
    if not params.cursor:
        return None
    after = decode_cursor(params.cursor, len(keys))
    if not all(_fits(v, k) for v, k in zip(after, keys, strict=True)):
        raise _malformed()
    return after


def next_cursor_of(rows: list[Any], keys: Sequence[Any], limit: int) -> tuple[list[Any], str | None]:
    """The page's rows (at most ``limit`` of the ``limit + 1`` read) and the cursor after its last (None: the end)."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor([getattr(rows[-1], k.key) for k in keys])


async def paginate(
    session: AsyncSession,
    stmt: Select[Any],
    keys: Sequence[Any],
    params: PageParams,
    *,
    descending: bool = False,
    transform: Callable[[Any], Any] | None = None,
) -> Page[Any]:
    """Keyset-paginate ``stmt`` ordered by ``keys`` (unique together, e.g. ``(Model.created_at, Model.id)``).
    ``stmt`` selects one ORM entity, or the columns a list shows (the keys among them): then the items are rows,
    and no entity is built for a list that needs a few of its columns (nor its large ones read)."""
    after = cursor_after(params, keys)
    if after is not None:
        # (k1, k2) > (v1, v2) spelled out so it works the same on SQLite and PostgreSQL
        clauses = []
        for i, key in enumerate(keys):
            eqs = [keys[j] == after[j] for j in range(i)]
            cmp = key < after[i] if descending else key > after[i]
            clauses.append(and_(*eqs, cmp))
        stmt = stmt.where(or_(*clauses))
    stmt = stmt.order_by(*[(k.desc() if descending else k.asc()) for k in keys]).limit(params.limit + 1)
    if len(stmt.column_descriptions) == 1:
        rows = list((await session.scalars(stmt)).all())
    else:  # plain columns: Core on the session's connection, without the ORM's per-statement machinery
        rows = list((await (await session.connection()).execute(stmt)).all())
    next_cursor = None
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        last = rows[-1]
        next_cursor = encode_cursor([getattr(last, k.key) for k in keys])
    items = [transform(r) for r in rows] if transform else rows
    return Page[Any](items=items, next_cursor=next_cursor)
