from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.common.auth import CurrentPrincipal
from services.common.db import ReadSessionDep
from services.learning.activity import service
from services.learning.activity.schemas import ActivityListing

router = APIRouter(tags=["oversight"])


@router.get("/v1/institution-activity", response_model=ActivityListing,
            summary="Per institution: material published, students who completed a soft-skills course, teachers who "
                    "completed a digital-competence course (learning:oversight, national officers)")
async def institution_activity(session: ReadSessionDep, principal: CurrentPrincipal) -> Any:
    """Read on the read replica when ``LEARNING_DATABASE_READ_URL`` is set: counts a moment old are fine."""
    return ActivityListing(items=await service.listing(session, principal))
