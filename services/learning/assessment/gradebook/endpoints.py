"""Gradebooks over HTTP: routes parse, call :mod:`services.learning.assessment.gradebook.service`, shape."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from services.common.auth import CurrentPrincipal
from services.common.db import SessionDep
from services.common.pagination import Page, PageDep
from services.learning.assessment.dependencies import Now
from services.learning.assessment.gradebook import service
from services.learning.assessment.gradebook.records import RecordsClient
from services.learning.assessment.gradebook.schemas import (
    GradebookCreate,
    GradebookRead,
    GradebookSummary,
    LearnersAdd,
    ScoresIn,
    SendResult,
)
from services.learning.context import CtxDep, LearningContext

router = APIRouter(tags=["assessment: gradebooks"])


def records_client(ctx: LearningContext) -> RecordsClient:
    return RecordsClient(ctx.http, ctx.settings.records_url, ctx.tokens, ctx.clock.sleep)


@router.post("/v1/gradebooks", status_code=201, response_model=GradebookRead,
             summary="A class's gradebook for a module: components and weights as the module has them in records")
async def create(body: GradebookCreate, ctx: CtxDep, session: SessionDep, principal: CurrentPrincipal, now: Now) -> Any:
    book = await service.create(session, principal, body, records_client(ctx))
    return await service.read(session, book, now)


@router.get("/v1/gradebooks", response_model=Page[GradebookSummary], summary="Your institutions' gradebooks")
async def list_gradebooks(session: SessionDep, principal: CurrentPrincipal, page: PageDep) -> Any:
    return await service.list_gradebooks(session, principal, page)


@router.get("/v1/gradebooks/{gradebook_id}", response_model=GradebookRead,
            summary="Every learner's component scores, module score and letter by records' rules, and what records holds")
async def get_gradebook(gradebook_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, now: Now) -> Any:
    return await service.read(session, await service.load(session, principal, gradebook_id), now)


@router.post("/v1/gradebooks/{gradebook_id}/learners", response_model=GradebookRead, summary="Add learners (those present are kept)")
async def add_learners(gradebook_id: uuid.UUID, body: LearnersAdd, session: SessionDep, principal: CurrentPrincipal, now: Now) -> Any:
    return await service.read(session, await service.add_learners(session, principal, gradebook_id, body.learners), now)


@router.put("/v1/gradebooks/{gradebook_id}/scores", response_model=GradebookRead,
            summary="Enter scores of the entered components (0–10; null clears one)")
async def enter_scores(gradebook_id: uuid.UUID, body: ScoresIn, session: SessionDep, principal: CurrentPrincipal, now: Now) -> Any:
    return await service.read(session, await service.enter_scores(session, principal, gradebook_id, body), now)


@router.post("/v1/gradebooks/{gradebook_id}/send", response_model=SendResult,
             summary="Send to records: a grade per complete learner (idempotent: what was sent and has not changed is not sent again)")
async def send(gradebook_id: uuid.UUID, ctx: CtxDep, principal: CurrentPrincipal, now: Now) -> Any:
    return await service.send(ctx.db, principal, gradebook_id, records_client(ctx), now)
