"""Cursor pagination: ``?limit=&cursor=`` → ``{"items": [...], "next_cursor": ...}``.

The cursor is an opaque, URL-safe encoding of the sort key of the last item (e.g. ``(created_at, id)``), so
pages stay stable while rows are inserted and cost the same at any depth (keyset pagination)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import ValidationFailed

T = TypeVar("T")
MAX_LIMIT = 500


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
    if isinstance(v, dict):
        if "t" in v:
            return datetime.fromisoformat(v["t"])
        if "u" in v:
            return UUID(v["u"])
    return v


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([_encode_value(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = [_decode_value(v) for v in json.loads(base64.urlsafe_b64decode(padded))]
        if len(values) != size:
            raise ValueError
        return values
    except Exception:
        raise ValidationFailed(
            "The cursor is not valid; use next_cursor from a previous page.",
            errors=[{"field": "cursor", "in": "query", "message": "malformed cursor"}],
        ) from None


async def paginate(
    session: AsyncSession,
    stmt: Select[Any],
    keys: Sequence[Any],
    params: PageParams,
    *,
    descending: bool = False,
    transform: Callable[[Any], Any] | None = None,
) -> Page[Any]:
    """Keyset-paginate ``stmt`` (selecting one ORM entity) ordered by ``keys`` (unique together, e.g.
    ``(Model.created_at, Model.id)``)."""
    if params.cursor:
        after = decode_cursor(params.cursor, len(keys))
        # (k1, k2) > (v1, v2) spelled out so it works the same on SQLite and PostgreSQL
        clauses = []
        for i, key in enumerate(keys):
            eqs = [keys[j] == after[j] for j in range(i)]
            cmp = key < after[i] if descending else key > after[i]
            clauses.append(and_(*eqs, cmp))
        stmt = stmt.where(or_(*clauses))
    stmt = stmt.order_by(*[(k.desc() if descending else k.asc()) for k in keys]).limit(params.limit + 1)
    rows = list((await session.scalars(stmt)).all())
    next_cursor = None
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        last = rows[-1]
        next_cursor = encode_cursor([getattr(last, k.key) for k in keys])
    items = [transform(r) for r in rows] if transform else rows
    return Page[Any](items=items, next_cursor=next_cursor)
