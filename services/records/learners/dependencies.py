"""What the learners endpoints take besides the session and the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from services.records.context import RecordsCtxDep
from services.records.learners.service import PersonResolver


# ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in a worker thread
async def get_person_resolver(ctx: RecordsCtxDep) -> PersonResolver:
    """Resolves persons in identity (set up by :func:`services.records.app.create_app`)."""
    return ctx.person_resolver


PersonResolverDep = Annotated[PersonResolver, Depends(get_person_resolver)]
