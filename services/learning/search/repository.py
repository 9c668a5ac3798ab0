"""Library search: full text over folded title, description, keywords, subjects and authors (so a query with or
without Vietnamese diacritics matches), facet counts, and three orders.

PostgreSQL: a generated ``tsvector`` ('simple' configuration over the folded text) with a GIN index, matched with
prefix terms (``ky:* & nang:*``) and ranked by ``ts_rank``. SQLite: an FTS5 table kept in step by triggers,
ranked by ``bm25``. Both only ever see rows the caller's visibility filter lets through."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Float, and_, desc, exists, func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.types import Uuid

from services.common.text import fold
from services.learning.models import LearningObject, LearningObjectTag

COLUMN_FACETS = {"type": LearningObject.type, "language": LearningObject.language, "licence": LearningObject.licence,
                 "institution": LearningObject.institution_code}
TAG_FACETS = {"level": "level", "occupation": "occupation"}
MAX_TERMS = 12


def terms(query: str | None) -> list[str]:
    return re.findall(r"[a-z0-9]+", fold(query or ""))[:MAX_TERMS]


@dataclass
class SearchQuery:
    q: str | None = None
    filters: dict[str, list[str]] = field(default_factory=dict)
    sort: str = "relevance"
    offset: int = 0
    limit: int = 20


def _match(dialect: str, words: list[str]) -> tuple[Any, Any, Any]:
    """(condition usable anywhere, rank expression, extra FROM for the rank) for the query words."""
    if dialect == "postgresql":
        tsquery = func.to_tsquery("simple", " & ".join(f"{w}:*" for w in words))
        vector = literal_column("learning_objects.search_vector")
        return vector.op("@@")(tsquery), func.ts_rank(vector, tsquery), None
    fts = " AND ".join(f'"{w}"*' for w in words)
    hits = (
        text("SELECT object_id, bm25(learning_object_search) AS rank FROM learning_object_search WHERE learning_object_search MATCH :fts")
        .bindparams(fts=fts)
        .columns(object_id=Uuid(), rank=Float())
        .subquery("hits")
    )
    condition = LearningObject.id.in_(select(hits.c.object_id))
    return condition, -hits.c.rank, hits  # bm25: lower is better


async def search(session: AsyncSession, visible: Any, query: SearchQuery) -> tuple[list[tuple[LearningObject, float]], int, dict[str, list[dict[str, Any]]]]:
    dialect = session.bind.dialect.name
    words = terms(query.q)
    conditions = [visible]
    rank: Any = None
    rank_from = None
    if words:
        condition, rank, rank_from = _match(dialect, words)
        conditions.append(condition)
    for name, values in query.filters.items():
        if not values:
            continue
        if name in COLUMN_FACETS:
            conditions.append(COLUMN_FACETS[name].in_(values))
        elif name in TAG_FACETS:
            tag = aliased(LearningObjectTag)
            conditions.append(exists().where(tag.object_id == LearningObject.id, tag.kind == TAG_FACETS[name], tag.value.in_(values)))
    where = and_(*conditions)

    newest = func.coalesce(LearningObject.published_at, LearningObject.created_at)
    if rank is None:
        rank = literal_column("0.0")
    stmt = select(LearningObject, rank.label("score"))
    if rank_from is not None:
        stmt = stmt.join(rank_from, rank_from.c.object_id == LearningObject.id)
    stmt = stmt.where(where)
    if query.sort == "newest" or (query.sort == "relevance" and not words):
        order = [desc(newest), LearningObject.id]
    elif query.sort == "most_used":
        order = [desc(LearningObject.view_count + LearningObject.download_count), desc(newest), LearningObject.id]
    else:
        order = [desc("score"), desc(newest), LearningObject.id]
    stmt = stmt.order_by(*order).offset(query.offset).limit(query.limit + 1)
    rows = [(obj, float(score or 0)) for obj, score in (await session.execute(stmt)).all()]

    total = int(await session.scalar(select(func.count()).select_from(LearningObject).where(where)) or 0)
    facets: dict[str, list[dict[str, Any]]] = {}
    for name, column in COLUMN_FACETS.items():
        result = await session.execute(
            select(column, func.count()).where(where).group_by(column).order_by(desc(func.count()), column).limit(50)
        )
        facets[name] = [{"value": v, "count": c} for v, c in result.all()]
    for name, kind in TAG_FACETS.items():
        result = await session.execute(
            select(LearningObjectTag.value, func.count())
            .join(LearningObject, LearningObject.id == LearningObjectTag.object_id)
            .where(LearningObjectTag.kind == kind, where)
            .group_by(LearningObjectTag.value)
            .order_by(desc(func.count()), LearningObjectTag.value)
            .limit(50)
        )
        facets[name] = [{"value": v, "count": c} for v, c in result.all()]
    return rows, total, facets


async def tags_of(session: AsyncSession, ids: list[Any]) -> dict[Any, dict[str, list[str]]]:
    if not ids:
        return {}
    out: dict[Any, dict[str, list[str]]] = {i: {"level": [], "occupation": [], "audience": []} for i in ids}
    rows = await session.execute(select(LearningObjectTag).where(LearningObjectTag.object_id.in_(ids)))
    for (tag,) in rows.all():
        out[tag.object_id].setdefault(tag.kind, []).append(tag.value)
    return out
