"""Queries for machine clients (the token grant's own read is in ``tokens/repository.py``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.pagination import Page, PageParams, paginate
from services.identity.clients.schemas import ClientRead
from services.identity.models import ApiClient


async def page(session: AsyncSession, page: PageParams) -> Page[Any]:
    """Every client, by client id."""
    return await paginate(session, select(ApiClient), (ApiClient.client_id,), page, transform=ClientRead.model_validate)
