"""Library search: full text over folded title, description, keywords, subjects and authors (so a query with or
without Vietnamese diacritics matches), facet counts, and three orders.

PostgreSQL: a generated ``tsvector`` ('simple' configuration over the folded text) with a GIN index, matched as
whole words with the last one as a prefix (``ky & nang & giao & tie:*``: search as you type) and ranked by
``ts_rank``. The index is sent that prefix as the words of the library it begins (``tie`` → ``tiec | tiep``), read
from a lexicon the database keeps (learning_search_lexemes, ``_completions``): a prefix term makes GIN read each
posting list it covers whole into a bitmap, whole words let it skip (on a million objects the search's database
time went from 74 to 30 ms). SQLite: an FTS5 table kept in step by triggers,
ranked by ``bm25``. Both only ever see rows the caller's visibility filter lets through.

What keeps it fast on a national catalogue:

* every order is a descending key ending in the id — newest ``(coalesce(published_at, created_at), id)``, most
  used ``(view_count + download_count, newest, id)``, relevance ``(score, newest, id)`` — and pages after the
  first continue from the last row's key (keyset), so page 50 costs what page 1 costs; newest and most used walk
  their index (``learning_0003``) and stop after one page;
* the total and the facet counts are computed on the first page only, in one statement, over at most
  ``sample`` matching rows: beyond that the total is reported as a lower bound (``total_exact: false``) and the
  facets count that sample. Counting every match of a broad query (tens of thousands of rows, seven times) was
  what made the first version slow;
* the first page of a words query sorted newest / most used comes from that same statement when the sample holds
  every match (``total_exact``): one scan yields the page, the total and the facets. Only a query with more matches
  than the sample walks its order's index (``_walk_order``), or sorts its matches when the walk finds too few;
* each facet's top FACET_VALUES are cut in SQL, and the summary's statements are built once per dialect; a page's
  objects and their tags are read in one statement, as plain rows, not ORM entities.

Measured on 100,000 objects (``bench/search.py``): the full-text match and the visits of the sampled rows are most
of the database's time (the GIN index intersects posting lists of common words: 3-6 ms per query), the facet
counts about a third (the tag facets: one index probe per sampled row).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    String,
    and_,
    column,
    desc,
    exists,
    func,
    literal,
    literal_column,
    select,
    table,
    text,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.types import Uuid

from services.common import sqlite_driver
from services.common.db import UTCDateTime
from services.common.text import fold
from services.learning.models import LearningObject, LearningObjectTag
from services.learning.search.cache import SearchCache

COLUMN_FACETS = {"type": LearningObject.type, "language": LearningObject.language, "licence": LearningObject.licence,
                 "institution": LearningObject.institution_code}
TAG_FACETS = {"level": "level", "occupation": "occupation"}
MAX_TERMS = 12
#: the most lexemes a query's last word is sent to the index as (beyond: matched as a prefix term)
MAX_COMPLETIONS = 32
FACET_VALUES = 50
#: rows of the newest / most-used order a words query is looked for in before every match is sorted (see
#: _walk_order): the walk stops as soon as the page is full, so a broad query reads a few hundred rows whatever the
#: window; the window bounds what a rare query reads before it falls back (1M objects: 2,000 sent a query matching
#: 0.3% of them to the sort of all 8,000 matches, ~240 ms of database CPU; a walk finds its page in ~7,000 rows)
WALK_WINDOW = 50_000
#: the ``newest`` key, exactly as indexed by ix_learning_objects_newest / ix_learning_objects_most_used
NEWEST = func.coalesce(LearningObject.published_at, LearningObject.created_at)
USAGE = LearningObject.view_count + LearningObject.download_count


def terms(query: str | None) -> list[str]:
    return re.findall(r"[a-z0-9]+", fold(query or ""))[:MAX_TERMS]


@dataclass
class SearchQuery:
    q: str | None = None
    filters: dict[str, list[str]] = field(default_factory=dict)
    sort: str = "relevance"
    #: the sort key of the last row of the previous page (None: the first page, with total and facets)
    after: list[Any] | None = None
    limit: int = 20
    #: total and facets count at most this many matching rows
    sample: int = 1000


@dataclass
class Summary:
    total: int
    exact: bool
    facets: dict[str, list[dict[str, Any]]]


@dataclass
class SearchPage:
    #: (hit: the HIT_COLUMNS by name, and its ``levels`` and ``occupation_codes``, score)
    rows: list[tuple[dict[str, Any], float]]
    #: the sort key of the last row when there is a next page
    next_key: list[Any] | None
    summary: Summary | None


def key_size(query: SearchQuery) -> int:
    return 2 if order_of(query) == "newest" else 3


def valid_key(query: SearchQuery, values: list[Any]) -> bool:
    """A decoded cursor has the shape of this order's key (it came from a page of the same search)."""
    kinds = {"newest": (datetime, uuid.UUID), "most_used": (int, datetime, uuid.UUID),
             "relevance": ((int, float), datetime, uuid.UUID)}[order_of(query)]
    return len(values) == len(kinds) and all(
        isinstance(v, k) and not (isinstance(v, bool)) for v, k in zip(values, kinds, strict=True)
    )


def order_of(query: SearchQuery) -> str:
    if query.sort == "most_used":
        return "most_used"
    if query.sort == "newest" or not terms(query.q):
        return "newest"
    return "relevance"


def _match(dialect: str, words: list[str], completions: list[str] | None = None) -> tuple[Any, Any, Any]:
    """(condition usable anywhere, rank expression, extra FROM for the rank) for the query words; ``completions``
    (PostgreSQL): the lexemes the last word is a prefix of (``_completions``), None to match it as a prefix term."""
    if dialect == "postgresql":
        # whole words, the last one also as a prefix (search as you type): exact lexemes keep GIN's fast
        # intersection and the planner's statistics, which prefix terms (read in full, guessed at) lose
        tsquery = func.to_tsquery("simple", " & ".join([*words[:-1], f"{words[-1]}:*"]))
        matched: Any = tsquery
        if completions is not None:
            # the same matches as the prefix term, as whole lexemes: ``to`` → ``to | toan``. Ranked by the prefix
            # query all the same (ts_rank scores an OR of lexemes differently from a prefix), so only the index's
            # work changes, never the order
            last = literal(" | ".join(_tsquery_lexeme(w) for w in completions or [words[-1]]), String).cast(TSQUERY)
            matched = last if len(words) == 1 else func.to_tsquery("simple", " & ".join(words[:-1])).op("&&")(last)
        vector: Any = literal_column("learning_objects.search_vector")
        return vector.op("@@")(matched), func.ts_rank(vector, tsquery), None
    fts = " AND ".join([*(f'"{w}"' for w in words[:-1]), f'"{words[-1]}"*'])
    hits = (
        text("SELECT object_id, bm25(learning_object_search) AS rank FROM learning_object_search WHERE learning_object_search MATCH :fts")
        .bindparams(fts=fts)
        .columns(object_id=Uuid(), rank=Float())
        .subquery("hits")
    )
    condition = LearningObject.id.in_(select(hits.c.object_id))
    return condition, -hits.c.rank, hits  # bm25: lower is better


def _tsquery_lexeme(lexeme: str) -> str:
    """A lexeme as ``tsquery`` input reads it verbatim: quoted, its quotes doubled and backslashes escaped (a
    lexeme of the 'simple' parser can hold ``'``, ``-``, ``.``, ``/``...; the cast, unlike ``to_tsquery``, does
    not parse it again)."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


async def _completions(session: AsyncSession, prefix: str) -> list[str] | None:
    """The lexemes of the library that start with ``prefix`` (the lexicon, learning_search_lexemes, kept by
    triggers: a superset of the index's), or None when there are more than MAX_COMPLETIONS (a one- or two-letter
    prefix: the prefix term reads about as much)."""
    # the primary key is in "C" collation: the lexemes starting with the prefix are a byte range of it (the
    # prefix's characters are [a-z0-9], so the last one plus one is still one character)
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    rows = (await session.execute(_COMPLETIONS, {"low": prefix, "high": upper, "n": MAX_COMPLETIONS + 1})).scalars().all()
    return None if len(rows) > MAX_COMPLETIONS else list(rows)


_COMPLETIONS = text(
    "SELECT lexeme FROM learning_search_lexemes WHERE lexeme >= :low AND lexeme < :high ORDER BY lexeme LIMIT :n")


def _conditions(query: SearchQuery, visible: Any, match: Any, columns: Any = None) -> Any:
    """The visibility filter, the words' match and the facet filters; ``columns``: where the id and the facet
    columns are read (a subquery's ``.c``), learning_objects by default."""
    if columns is None:
        object_id, facet_columns = LearningObject.id, COLUMN_FACETS
    else:
        object_id, facet_columns = columns.id, {name: columns[c.key] for name, c in COLUMN_FACETS.items()}
    conditions = [visible]
    if match is not None:
        conditions.append(match)
    for name, values in query.filters.items():
        if not values:
            continue
        if name in facet_columns:
            conditions.append(facet_columns[name].in_(values))
        elif name in TAG_FACETS:
            tag = aliased(LearningObjectTag)
            conditions.append(exists().where(tag.object_id == object_id, tag.kind == TAG_FACETS[name], tag.value.in_(values)))
    return and_(*conditions)


async def search(session: AsyncSession, visible: Any, query: SearchQuery, *, cache: SearchCache | None = None,
                 visibility: Hashable | None = None) -> SearchPage:
    """A page of ``query`` among the objects ``visible`` (the caller's listing filter). With ``cache`` and the
    ``visibility`` the filter was made from, the ranking of the same search for the same visibility within the
    cache's seconds is reused (search/cache.py); the page's objects are read anew either way, through ``visible``."""
    key = None if cache is None or visibility is None else (
        tuple(terms(query.q)), tuple(sorted((k, tuple(sorted(v))) for k, v in query.filters.items() if v)), order_of(query),
        None if query.after is None else tuple(query.after), query.limit, query.sample, visibility)
    ranked = cache.get(key) if cache is not None and key is not None else None
    if ranked is None:
        generation = cache.generation if cache is not None else 0
        if session.get_bind().dialect.name == "sqlite":
            with sqlite_driver.heavy():  # a search with its facets takes milliseconds: not on the event loop
                ranked = await _rank(session, visible, query)
        else:
            ranked = await _rank(session, visible, query)
        if cache is not None and key is not None:
            cache.put(key, ranked, generation)
    page_rows, more, summary = ranked
    order = order_of(query)
    hits = await _hits(session, [r[0] for r in page_rows], visible)  # a page's rows by id: quick, on the loop
    rows = [(hits[object_id], score) for object_id, score in page_rows if object_id in hits]
    next_key = None
    if more and rows:
        hit, score = rows[-1]
        newest = hit["published_at"] or hit["created_at"]
        next_key = {"newest": [newest, hit["id"]], "most_used": [hit["view_count"] + hit["download_count"], newest, hit["id"]],
                    "relevance": [score, newest, hit["id"]]}[order]
    return SearchPage(rows, next_key, summary)


async def _rank(session: AsyncSession, visible: Any, query: SearchQuery) -> tuple[list[tuple[Any, float]], bool, Summary | None]:
    """The page's (object id, score) in order, whether more follow, and on the first page the total and facets."""
    dialect = session.get_bind().dialect.name
    words = terms(query.q)
    if dialect == "postgresql":
        # plan each search for its own words and filters: a cached generic plan (asyncpg prepares statements)
        # cannot tell a query matching 50 rows from one matching 50,000, and picks badly for one of them; and no
        # JIT: a plan the optimiser costs high (a sort of every match) would spend tens of ms compiling first
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        await session.execute(text("SET LOCAL jit = off"))
    match = rank = rank_from = None
    if words:
        completions = await _completions(session, words[-1]) if dialect == "postgresql" else None
        match, rank, rank_from = _match(dialect, words, completions)
    where = _conditions(query, visible, match)
    order = order_of(query)
    first = query.after is None
    order_keys: dict[str, list[Any]] = {"newest": [NEWEST, LearningObject.id], "most_used": [USAGE, NEWEST, LearningObject.id]}
    keys = order_keys.get(order, [])
    # the page is taken from the matches counted (the sample) when it can be: always for relevance (ranked among
    # them), and on the first page of a words query in the newest / most-used order, where it is right whenever the
    # sample holds every match (total_exact); only a query with more matches than that looks further (below)
    from_sample = order == "relevance" or (bool(words) and first)

    # the matches counted for the total and the facets, and ranked or ordered: at most sample + 1 of them, in
    # whatever order the full-text index yields them
    candidates = select(
        LearningObject.id.label("id"), *[c.label(name) for name, c in COLUMN_FACETS.items()],
        # scored only where the order is the score: ts_rank reads each sampled row's vector
        NEWEST.label("newest"), (rank if rank is not None and order == "relevance" else literal(0.0, Float)).label("score"),
        *([USAGE.label("usage")] if from_sample and order == "most_used" else []),
    )
    if rank_from is not None:  # SQLite: the join is the match (the IN of the same FTS query would run it twice)
        candidates = candidates.join(rank_from, rank_from.c.object_id == LearningObject.id)
        matched = candidates.where(_conditions(query, visible, None)).limit(query.sample + 1).cte("matched")
    else:
        matched = candidates.where(where).limit(query.sample + 1).cte("matched")

    parts: list[Any] = []
    if from_sample:
        page_keys = [matched.c.newest, matched.c.id]
        if order != "newest":
            page_keys.insert(0, matched.c.score if order == "relevance" else matched.c.usage)
        page_q = select(*page_keys)
        if not first:
            page_q = page_q.where(tuple_(*page_keys) < tuple(query.after or ()))
        page_sq = page_q.order_by(*[desc(k) for k in page_keys]).limit(query.limit + 1).subquery("page")
        sort_value = page_sq.c.score if order == "relevance" else (
            page_sq.c.usage.cast(Float) if order == "most_used" else literal(0.0, Float))
        parts.append(select(literal("#hit", String).label("facet"), literal(None, String).label("value"),
                            literal(None, Integer).label("n"), sort_value.label("score"), page_sq.c.newest, page_sq.c.id))
    if first:
        parts.extend(_summary_parts(dialect))

    page_rows: list[tuple[Any, float, datetime | None]] = []
    total = 0
    counted: dict[str, list[tuple[Any, int]]] = {name: [] for name in [*COLUMN_FACETS, *TAG_FACETS]}
    if parts:
        # typed Any on purpose: mypy 2.4.1 crashes (RuntimeError in expandtype.expand_unpack) inferring a call to a
        # TypeVarTuple-generic function (SQLAlchemy 2.1's union_all) in a conditional whose other branch is Any
        compound: Any = union_all(*parts) if len(parts) > 1 else parts[0]
        stmt = compound.add_cte(matched)
        for facet, value, n, s, newest, object_id in (await session.execute(stmt)).all():
            if facet == "#hit":
                page_rows.append((object_id, float(s or 0), newest))
            elif facet == "#total":
                total = int(n)
            else:
                counted[facet].append((value, int(n)))
    page_rows.sort(key=lambda r: (r[1], r[2], r[0]), reverse=True)
    if order != "relevance":
        page_rows = [(object_id, 0.0, newest) for object_id, _, newest in page_rows]  # these orders report no score
        if not from_sample or total > query.sample:
            # the sample does not hold every match: the page comes from the order's index
            ids = await _walk_order(session, visible, query, match, keys) if words and dialect == "postgresql" else None
            if ids is None:
                ids_q = select(LearningObject.id).where(where)
                if not first:
                    ids_q = ids_q.where(tuple_(*keys) < tuple(query.after or ()))
                ids_q = ids_q.order_by(*[desc(k) for k in keys]).limit(query.limit + 1)
                ids = list((await session.scalars(ids_q)).all())
            page_rows = [(object_id, 0.0, None) for object_id in ids]

    more = len(page_rows) > query.limit
    page = [(object_id, score) for object_id, score, _ in page_rows[: query.limit]]
    summary = None
    if first:
        facets = {
            name: [{"value": v, "count": c} for v, c in sorted(values, key=lambda vc: (-vc[1], vc[0]))[:FACET_VALUES]]
            for name, values in counted.items()
        }
        summary = Summary(total=min(total, query.sample), exact=total <= query.sample, facets=facets)
    return page, more, summary


async def _walk_order(session: AsyncSession, visible: Any, query: SearchQuery, match: Any, keys: list[Any]) -> list[Any] | None:
    """A words query sorted by newest / most used with more matches than its sample, on PostgreSQL: look for the
    page among the next WALK_WINDOW visible objects in that order (an index walk that stops early, the words and
    filters checked on those rows only). A broad query fills its page there at once; None (the matches are rare
    among recent objects) sends it to the full-text index and a sort of every match."""
    table = LearningObject.__table__
    recent = select(
        *[table.c[name] for name in ("id", "type", "language", "licence", "institution_code")],
        literal_column("learning_objects.search_vector").label("search_vector"),
        *[k.label(f"k{i}") for i, k in enumerate(keys)],
    ).where(visible)
    if query.after is not None:
        recent = recent.where(tuple_(*keys) < tuple(query.after))
    window = recent.order_by(*[desc(k) for k in keys]).limit(WALK_WINDOW).subquery("recent")
    stmt = (
        select(window.c.id)
        .where(_conditions(query, true(), window.c.search_vector.op("@@")(match.right), window.c))
        .order_by(*[desc(window.c[f"k{i}"]) for i in range(len(keys))])
        .limit(query.limit + 1)
    )
    ids = list((await session.scalars(stmt)).all())
    return ids if len(ids) > query.limit else None


#: the ``matched`` CTE as the summary reads it: the summary's statements are built once per dialect over this name
#: (building them anew took 0.8 ms of Python per first page) and the request's CTE is attached under it
MATCHED = table("matched", column("id", Uuid()), *[column(name, String()) for name in COLUMN_FACETS])
_summaries: dict[str, list[Any]] = {}


def _summary_parts(dialect: str) -> list[Any]:
    parts = _summaries.get(dialect)
    if parts is None:
        parts = _summaries[dialect] = _build_summary_parts(dialect, MATCHED)
    return parts


def _build_summary_parts(dialect: str, matched: Any) -> list[Any]:
    """SELECTs (facet, value, n, NULL, NULL, NULL) counting the matched rows: the total, then the FACET_VALUES
    most frequent values of each facet (cut in SQL: a broad query has hundreds of institutions and occupations)."""
    nothing = (literal(None, Float), literal(None, UTCDateTime()), literal(None, Uuid()))
    parts: list[Any] = [select(literal("#total", String), literal(None, String), func.count(), *nothing).select_from(matched)]
    for name in COLUMN_FACETS:
        column = matched.c[name]
        counted = (select(column.label("value"), func.count().label("n")).group_by(column)
                   .order_by(func.count().desc(), column).limit(FACET_VALUES).subquery(f"facet_{name}"))
        parts.append(select(literal(name, String), counted.c.value, counted.c.n, *nothing))
    tag = select(LearningObjectTag.kind, LearningObjectTag.value).where(
        LearningObjectTag.object_id == matched.c.id, LearningObjectTag.kind.in_(list(TAG_FACETS.values()))
    )
    kind: Any
    value: Any
    if dialect == "postgresql":  # one index probe per matched row, never a hash of the whole tag table
        tags = tag.lateral("tags")
        source = matched.join(tags, true())
        kind, value = tags.c.kind, tags.c.value
    else:  # SQLite's planner probes the primary key by itself (and has no LATERAL)
        tag_rows = aliased(LearningObjectTag, name="tags")
        source = matched.join(tag_rows, and_(tag_rows.object_id == matched.c.id, tag_rows.kind.in_(list(TAG_FACETS.values()))))
        kind, value = tag_rows.kind, tag_rows.value
    ranked = select(
        kind.label("kind"), value.label("value"), func.count().label("n"),
        func.row_number().over(partition_by=kind, order_by=(func.count().desc(), value)).label("place"),
    ).select_from(source).group_by(kind, value).subquery("tag_counts")
    parts.append(select(ranked.c.kind, ranked.c.value, ranked.c.n, *nothing).where(ranked.c.place <= FACET_VALUES))
    return parts


#: what a hit shows: plain rows, not ORM entities (no identity map, no instance state: a third of the request's
#: Python time went into building those for 20 objects and their tags)
HIT_COLUMNS = [LearningObject.__table__.c[name] for name in (
    "id", "title", "type", "language", "licence", "visibility", "institution_code", "status", "published_version",
    "latest_version", "view_count", "download_count", "published_at", "created_at")]
#: the tags a hit lists, by kind: the key it has in the hit
HIT_TAGS = {"level": "levels", "occupation": "occupation_codes"}


async def _hits(session: AsyncSession, ids: list[Any], visible: Any) -> dict[Any, dict[str, Any]]:
    """The page's objects the caller may still see (``visible``), with their levels and occupations, in one
    statement (a row per tag)."""
    if not ids:
        return {}
    tags = aliased(LearningObjectTag, name="tags")
    stmt = (
        select(*HIT_COLUMNS, tags.kind.label("tag_kind"), tags.value.label("tag_value"))
        .outerjoin(tags, and_(tags.object_id == LearningObject.id, tags.kind.in_(list(HIT_TAGS))))
        .where(LearningObject.id.in_(ids), visible)
    )
    hits: dict[Any, dict[str, Any]] = {}
    names = [c.name for c in HIT_COLUMNS]
    for row in (await session.execute(stmt)).all():
        hit = hits.get(row[0])
        if hit is None:
            hit = hits[row[0]] = dict(zip(names, row, strict=False)) | {key: [] for key in HIT_TAGS.values()}
        if row.tag_kind is not None:
            hit[HIT_TAGS[row.tag_kind]].append(row.tag_value)
    for hit in hits.values():
        for key in HIT_TAGS.values():
            hit[key].sort()
    return hits
