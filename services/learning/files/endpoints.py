"""Files of learning objects: one-shot uploads (raw body or multipart form), resumable uploads, downloads."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Header, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from services.common.auth import CurrentPrincipal, OptionalPrincipal
from services.common.db import SessionDep
from services.common.errors import PayloadTooLarge
from services.learning.context import CtxDep, LearningContext
from services.learning.files import service as files
from services.learning.files import uploads
from services.learning.files.multipart import file_part
from services.learning.files.schemas import UploadSessionCreate, UploadSessionRead
from services.learning.library import service as library
from services.learning.library.schemas import DownloadLink, LearningObjectRead

router = APIRouter(tags=["files"])

_BINARY = {"requestBody": {"required": True, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}
_FORM = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "properties": {"change_note": {"type": "string"}, "file": {"type": "string", "format": "binary"}}, "required": ["file"]}}}}}


def _early_limit(request: Request, ctx: LearningContext) -> None:
    length = request.headers.get("content-length")
    limit = ctx.settings.max_upload_bytes
    if length and length.isdigit() and int(length) > limit + 64 * 1024:
        raise PayloadTooLarge(f"The file is larger than the limit of {limit} bytes.", limit=limit)


@router.put("/v1/learning-objects/{object_id}/file", status_code=201, response_model=LearningObjectRead, openapi_extra=_BINARY,
            summary="Upload the file as the raw body: a new version (type detected from the bytes)")
async def put_file(object_id: uuid.UUID, request: Request, ctx: CtxDep, principal: CurrentPrincipal, response: Response,
                   filename: Annotated[str | None, Query(max_length=255)] = None,
                   change_note: Annotated[str | None, Query(max_length=1000)] = None,
                   content_type: Annotated[str | None, Header()] = None,
                   if_match: Annotated[str | None, Header()] = None) -> LearningObjectRead:
    _early_limit(request, ctx)
    read = await files.upload(ctx, principal, object_id, request.stream(), declared=content_type, filename=filename,
                              note=change_note, if_match=if_match)
    response.headers["ETag"] = f'"v{read.latest_version}"'
    return read


@router.post("/v1/learning-objects/{object_id}/file", status_code=201, response_model=LearningObjectRead, openapi_extra=_FORM,
             summary="Upload the file as a multipart form (field 'file'): a new version")
async def post_file(object_id: uuid.UUID, request: Request, ctx: CtxDep, principal: CurrentPrincipal, response: Response,
                    if_match: Annotated[str | None, Header()] = None) -> LearningObjectRead:
    _early_limit(request, ctx)
    part = await file_part(request)
    read = await files.upload(ctx, principal, object_id, part.chunks, declared=part.content_type, filename=part.filename,
                              note=part.fields.get("change_note"), if_match=if_match)
    response.headers["ETag"] = f'"v{read.latest_version}"'
    return read


@router.get("/v1/learning-objects/{object_id}/download", response_model=DownloadLink,
            responses={307: {"description": "with redirect=true: to the file"}},
            summary="A short-lived download link (presigned S3 URL, or the service's signed link with Range support)")
async def download(object_id: uuid.UUID, ctx: CtxDep, session: SessionDep, principal: OptionalPrincipal, tasks: BackgroundTasks,
                   version: Annotated[int | None, Query(ge=1)] = None, redirect: bool = False) -> Any:
    link = await library.download_link(ctx, session, principal, object_id, version)
    tasks.add_task(library.record_usage, ctx, object_id, principal, "download")
    if redirect:
        return RedirectResponse(link.url, status_code=307, background=tasks)
    return link


@router.post("/v1/learning-objects/{object_id}/uploads", status_code=201, response_model=UploadSessionRead,
             summary="Start a resumable upload (for large files): then PUT its parts and complete it")
async def start_upload(object_id: uuid.UUID, body: UploadSessionCreate, ctx: CtxDep, session: SessionDep,
                       principal: CurrentPrincipal, response: Response) -> UploadSessionRead:
    upload = await uploads.create(ctx, session, principal, object_id, body)
    response.headers["Location"] = f"/v1/uploads/{upload.id}"
    return await uploads.to_read(session, upload)


@router.get("/v1/uploads/{upload_id}", response_model=UploadSessionRead, summary="A resumable upload: the parts the server holds, the ones missing")
async def get_upload(upload_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> UploadSessionRead:
    return await uploads.to_read(session, await uploads.load(session, principal, upload_id, open_only=False))


@router.put("/v1/uploads/{upload_id}/parts/{number}", response_model=UploadSessionRead, openapi_extra=_BINARY,
            summary="Send one part (raw body, exactly part_size bytes except the last); sending it again replaces it")
async def put_part(upload_id: uuid.UUID, number: Annotated[int, Path(ge=1)], request: Request, ctx: CtxDep,
                   principal: CurrentPrincipal) -> UploadSessionRead:
    return await uploads.put_part(ctx, principal, upload_id, number, request.stream())


@router.post("/v1/uploads/{upload_id}/complete", status_code=201, response_model=LearningObjectRead,
             summary="Assemble the parts: the file becomes a new version of the learning object")
async def complete_upload(upload_id: uuid.UUID, ctx: CtxDep, principal: CurrentPrincipal) -> LearningObjectRead:
    return await uploads.complete(ctx, principal, upload_id)


@router.delete("/v1/uploads/{upload_id}", status_code=204, summary="Abandon a resumable upload")
async def abort_upload(upload_id: uuid.UUID, ctx: CtxDep, principal: CurrentPrincipal) -> Response:
    await uploads.abort(ctx, principal, upload_id)
    return Response(status_code=204)
