"""``GET /v1/search``: the library's catalogue search, with or without diacritics, faceted, sorted."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from services.common.auth import OptionalPrincipal
from services.common.db import ReadSessionDep
from services.common.errors import ValidationFailed
from services.common.pagination import decode_cursor, encode_cursor
from services.learning.context import CtxDep
from services.learning.library import access
from services.learning.search import repository
from services.learning.search.repository import SearchQuery

router = APIRouter(tags=["search"])


class SearchHit(BaseModel):
    id: uuid.UUID
    title: str
    type: str
    language: str
    licence: str
    visibility: str
    institution_code: str
    status: str
    published_version: int | None
    latest_version: int
    levels: list[str]
    occupation_codes: list[str]
    view_count: int
    download_count: int
    published_at: datetime | None
    created_at: datetime
    score: float


class FacetValue(BaseModel):
    value: str
    count: int


class SearchResult(BaseModel):
    items: list[SearchHit]
    next_cursor: str | None
    #: first page only (null on pages after it): the number of matches, counted up to the search's sample size
    total: int | None
    #: false when there are more matches than were counted (``total`` is then a lower bound, "1000+")
    total_exact: bool | None
    #: first page only: counts per value over the matches counted for ``total``
    facets: dict[str, list[FacetValue]]


Multi = Annotated[list[str] | None, Query()]


@router.get("/v1/search", response_model=SearchResult, summary="Search the library (diacritics optional), with facets")
async def search(
    ctx: CtxDep,
    session: ReadSessionDep,
    principal: OptionalPrincipal,
    q: Annotated[str | None, Query(max_length=200, description="words; 'ky nang giao tiep' finds 'Kỹ năng giao tiếp'")] = None,
    type: Multi = None,
    level: Multi = None,
    occupation: Multi = None,
    licence: Multi = None,
    institution: Multi = None,
    language: Multi = None,
    sort: Literal["relevance", "newest", "most_used"] = "relevance",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> Any:
    """Read on the read replica when ``LEARNING_DATABASE_READ_URL`` is set: the facets count up to
    ``search_count_limit`` matches, and a catalogue a moment old is fine to search. A learning object itself (and
    what its author just changed) is read from the primary (``/v1/learning-objects/{id}``)."""
    query = SearchQuery(
        q=q, sort=sort, limit=limit, sample=ctx.settings.search_count_limit,
        filters={"type": type or [], "level": level or [], "occupation": occupation or [], "licence": licence or [],
                 "institution": institution or [], "language": language or []},
    )
    if cursor:
        query.after = decode_cursor(cursor, repository.key_size(query))
        if not repository.valid_key(query, query.after):
            raise ValidationFailed("The cursor belongs to another search; use next_cursor from this one.",
                                   errors=[{"field": "cursor", "in": "query", "message": "does not match the sort"}])
    page = await repository.search(session, access.listing_filter(principal), query, cache=ctx.search_cache,
                                   visibility=access.listing_key(principal))
    items = [SearchHit(**hit, score=score) for hit, score in page.rows]
    summary = page.summary
    result = SearchResult(
        items=items, next_cursor=encode_cursor(page.next_key) if page.next_key is not None else None,
        total=summary.total if summary else None, total_exact=summary.exact if summary else None,
        # the repository's plain dicts, validated into FacetValue by the model (no objects built on the hot path)
        facets=summary.facets if summary else {},  # type: ignore[arg-type]
    )
    return Response(result.model_dump_json(), media_type="application/json")  # validated once, not again
