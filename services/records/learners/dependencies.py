"""What the learners endpoints take besides the session and the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.records.learners.service import PersonResolver


# ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in a worker thread
async def get_person_resolver(request: Request) -> PersonResolver:
    """Resolves persons in identity (set up by :func:`services.records.app.create_app`)."""
    return request.app.state.person_resolver  # type: ignore[no-any-return]


PersonResolverDep = Annotated[PersonResolver, Depends(get_person_resolver)]
