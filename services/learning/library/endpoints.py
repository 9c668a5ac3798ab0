"""Learning objects: create, read, edit (each edit a new version), versions, moderation, usage, marketplace."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Header, Query, Response

from services.common.auth import CurrentPrincipal, OptionalPrincipal
from services.common.db import SessionDep
from services.common.errors import NotFound
from services.common.pagination import Page, PageDep, paginate
from services.learning.context import CtxDep
from services.learning.library import access, repository, service
from services.learning.library.schemas import (
    AcquisitionCreate,
    AcquisitionRead,
    LearningObjectCreate,
    LearningObjectRead,
    LearningObjectUpdate,
    ModerationEventRead,
    ReviewAction,
    ReviewerCreate,
    ReviewerRead,
    UsageRead,
    VersionRead,
)
from services.learning.models import LearningObject

router = APIRouter(tags=["library"])
VersionQuery = Annotated[int | None, Query(ge=1, description="a version number (default: the one you may see, latest first)")]


@router.post("/v1/learning-objects", status_code=201, response_model=LearningObjectRead, summary="Create a learning object (version 1, draft)")
async def create_object(body: LearningObjectCreate, session: SessionDep, principal: CurrentPrincipal, response: Response) -> LearningObjectRead:
    obj, version = await service.create(session, principal, body)
    response.headers["Location"] = f"/v1/learning-objects/{obj.id}"
    response.headers["ETag"] = service.etag_of(obj)
    return await service.to_read(session, obj, version)


@router.get("/v1/learning-objects/{object_id}", response_model=LearningObjectRead, summary="A learning object, as the version you may see")
async def get_object(object_id: uuid.UUID, ctx: CtxDep, session: SessionDep, principal: OptionalPrincipal,
                     response: Response, tasks: BackgroundTasks, version: VersionQuery = None) -> LearningObjectRead:
    obj = await service.load(session, object_id)
    shown = await service.visible_version(session, principal, obj, version)
    response.headers["ETag"] = service.etag_of(obj)
    tasks.add_task(service.record_usage, ctx, obj.id, principal, "view")
    return await service.to_read(session, obj, shown)


@router.patch("/v1/learning-objects/{object_id}", response_model=LearningObjectRead,
              summary="Change metadata: a new version (a draft until reviewed; the published version stays live)")
async def update_object(object_id: uuid.UUID, body: LearningObjectUpdate, session: SessionDep, principal: CurrentPrincipal,
                        response: Response, if_match: Annotated[str | None, Header()] = None) -> LearningObjectRead:
    obj, version = await service.update(session, principal, object_id, body, if_match)
    response.headers["ETag"] = service.etag_of(obj)
    return await service.to_read(session, obj, version)


@router.get("/v1/learning-objects/{object_id}/versions", response_model=list[VersionRead], summary="Version history, newest first")
async def list_versions(object_id: uuid.UUID, session: SessionDep, principal: OptionalPrincipal) -> list[VersionRead]:
    return await service.list_versions(session, principal, object_id)


@router.get("/v1/learning-objects/{object_id}/versions/{number}", response_model=LearningObjectRead,
            summary="One version (what a course pins)")
async def get_version(object_id: uuid.UUID, number: int, session: SessionDep, principal: OptionalPrincipal) -> LearningObjectRead:
    obj = await service.load(session, object_id)
    return await service.to_read(session, obj, await service.visible_version(session, principal, obj, number))


@router.get("/v1/learning-objects/{object_id}/history", response_model=list[ModerationEventRead], summary="Moderation history")
async def get_history(object_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> list[Any]:
    obj = await service.load(session, object_id)
    if not access.is_insider(principal, obj) and not await access.is_moderator(session, principal):
        await service.visible_version(session, principal, obj)
        raise NotFound(f"No history of {object_id} for you.")
    return [ModerationEventRead.model_validate(e) for e in await repository.history(session, obj.id)]


async def _read_latest(session: Any, obj: Any) -> LearningObjectRead:
    version = await repository.get_version(session, obj.id, obj.latest_version)
    if version is None:  # every object has its latest version: a missing one is a broken row, not the caller's error
        raise RuntimeError(f"learning object {obj.id} has no version {obj.latest_version}")
    return await service.to_read(session, obj, version)


@router.post("/v1/learning-objects/{object_id}/submit", response_model=LearningObjectRead, summary="Submit the latest version for review")
async def submit(object_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, body: ReviewAction | None = None) -> LearningObjectRead:
    obj = await service.submit(session, principal, object_id, body.reason if body else None)
    return await _read_latest(session, obj)


@router.post("/v1/learning-objects/{object_id}/publish", response_model=LearningObjectRead, summary="Moderator: publish a submitted version")
async def publish(object_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, body: ReviewAction | None = None) -> LearningObjectRead:
    body = body or ReviewAction()
    obj = await service.publish(session, principal, object_id, body.version, body.reason)
    return await _read_latest(session, obj)


@router.post("/v1/learning-objects/{object_id}/reject", response_model=LearningObjectRead, summary="Moderator: reject a submitted version, with the reason")
async def reject(object_id: uuid.UUID, body: ReviewAction, session: SessionDep, principal: CurrentPrincipal) -> LearningObjectRead:
    obj = await service.reject(session, principal, object_id, body.version, body.reason)
    return await _read_latest(session, obj)


@router.post("/v1/learning-objects/{object_id}/withdraw", response_model=LearningObjectRead,
             summary="Take published material off the library (history and versions are kept)")
async def withdraw(object_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, body: ReviewAction | None = None) -> LearningObjectRead:
    obj = await service.withdraw(session, principal, object_id, body.reason if body else None)
    return await _read_latest(session, obj)


@router.get("/v1/review-queue", response_model=Page[LearningObjectRead], summary="Moderator: material waiting for review, oldest first")
async def review_queue(session: SessionDep, principal: CurrentPrincipal, page: PageDep) -> Page[LearningObjectRead]:
    await access.ensure_moderator(session, principal)
    waiting = await paginate(session, repository.submitted_objects(), (LearningObject.updated_at, LearningObject.id), page)
    return Page(items=[await _read_latest(session, obj) for obj in waiting.items], next_cursor=waiting.next_cursor)


@router.get("/v1/reviewers", response_model=list[ReviewerRead], summary="Designated reviewers")
async def list_reviewers(session: SessionDep, principal: CurrentPrincipal) -> list[Any]:
    return [ReviewerRead.model_validate(r) for r in await service.list_reviewers(session, principal)]


@router.put("/v1/reviewers/{subject}", response_model=ReviewerRead, summary="Officer: designate a person (account id) as reviewer")
async def designate_reviewer(subject: str, session: SessionDep, principal: CurrentPrincipal, body: ReviewerCreate | None = None) -> Any:
    return ReviewerRead.model_validate(await service.designate_reviewer(session, principal, subject, body.note if body else None))


@router.delete("/v1/reviewers/{subject}", status_code=204, summary="Officer: end a reviewer's designation")
async def remove_reviewer(subject: str, session: SessionDep, principal: CurrentPrincipal) -> Response:
    await service.remove_reviewer(session, principal, subject)
    return Response(status_code=204)


@router.get("/v1/learning-objects/{object_id}/usage", response_model=UsageRead, summary="Views, downloads and launches, per institution")
async def get_usage(object_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> Any:
    return await service.usage(session, principal, object_id)


@router.post("/v1/learning-objects/{object_id}/acquisitions", response_model=AcquisitionRead, status_code=201,
             summary="Acquire marketplace material (records the terms and price; no payment is processed)")
async def acquire(object_id: uuid.UUID, body: AcquisitionCreate, session: SessionDep, principal: CurrentPrincipal, response: Response) -> Any:
    acquisition, created = await service.acquire(session, principal, object_id, body)
    if not created:
        response.status_code = 200
    return AcquisitionRead.model_validate(acquisition)


@router.get("/v1/learning-objects/{object_id}/acquisitions", response_model=list[AcquisitionRead],
            summary="Acquisitions of an object (owning institution and moderators)")
async def list_acquisitions(object_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> list[Any]:
    return [AcquisitionRead.model_validate(a) for a in await service.list_acquisitions(session, principal, object_id)]
