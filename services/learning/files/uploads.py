"""Resumable uploads: a session per file, parts sent in any order (and again after a dropped connection), the
store's multipart upload (S3 multipart) underneath. ``GET`` the session to learn which parts the server holds."""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.db import utcnow
from services.common.errors import Conflict, NotFound, PayloadTooLarge, ValidationFailed
from services.common.sniff import SNIFF_BYTES
from services.common.storage import MAX_PART_NUMBER, PartInfo
from services.learning.context import LearningContext
from services.learning.files import repository
from services.learning.files import service as files
from services.learning.files.rules import ensure_accepts
from services.learning.files.schemas import PartRead, UploadSessionCreate, UploadSessionRead
from services.learning.library import access
from services.learning.library import service as library
from services.learning.library.schemas import LearningObjectRead
from services.learning.models import UploadPart, UploadSession


def part_count(upload: UploadSession) -> int:
    return math.ceil(upload.size / upload.part_size)


def expected_size(upload: UploadSession, number: int) -> int:
    count = part_count(upload)
    return upload.part_size if number < count else upload.size - upload.part_size * (count - 1)


async def to_read(session: AsyncSession, upload: UploadSession) -> UploadSessionRead:
    parts = await repository.parts(session, upload.id)
    have = {p.number for p in parts}
    return UploadSessionRead(
        id=upload.id, object_id=upload.object_id, filename=upload.filename, size=upload.size, part_size=upload.part_size,
        part_count=part_count(upload), status=upload.status, parts=[PartRead(number=p.number, size=p.size, etag=p.etag) for p in parts],
        missing_parts=[n for n in range(1, part_count(upload) + 1) if n not in have], received_bytes=sum(p.size for p in parts),
        version=upload.version, expires_at=upload.expires_at, created_at=upload.created_at,
    )


async def create(ctx: LearningContext, session: AsyncSession, principal: Principal, object_id: uuid.UUID, body: UploadSessionCreate) -> UploadSession:
    settings = ctx.settings
    obj, latest = await library.editable(session, principal, object_id)
    if body.size > settings.max_upload_bytes:
        raise PayloadTooLarge(f"The file is larger than the limit of {settings.max_upload_bytes} bytes.", limit=settings.max_upload_bytes)
    part_size = settings.upload_part_size
    if math.ceil(body.size / part_size) > MAX_PART_NUMBER:
        raise PayloadTooLarge("The file needs more parts than an upload may have.")
    if latest.meta["type"] == "link":
        ensure_accepts("link", "application/octet-stream")
    key = files.incoming_key()
    upload_id = await ctx.store.create_multipart(key, body.content_type)
    upload = UploadSession(
        object_id=obj.id, created_by=access.actor(principal), filename=files.safe_filename(body.filename) or "file",
        declared_type=body.content_type, size=body.size, part_size=part_size, object_key=key, store_upload_id=upload_id,
        change_note=body.change_note, status="open", expires_at=utcnow() + timedelta(hours=settings.upload_session_hours),
    )
    session.add(upload)
    await session.flush()
    return upload


async def load(session: AsyncSession, principal: Principal, upload_id: uuid.UUID, *, open_only: bool = True) -> UploadSession:
    upload = await session.get(UploadSession, upload_id)
    if upload is None or upload.created_by != access.actor(principal):
        raise NotFound(f"No upload {upload_id}.")
    if open_only:
        if upload.status != "open":
            raise Conflict(f"The upload is {upload.status}.")
        if upload.expires_at < utcnow():
            raise Conflict("The upload has expired; start a new one.")
    return upload


async def put_part(ctx: LearningContext, principal: Principal, upload_id: uuid.UUID, number: int,
                   stream: AsyncIterable[bytes]) -> UploadSessionRead:
    """One part's bytes from ``stream`` into the store's multipart upload; exactly the part's size."""
    db = ctx.db
    async with db.session(write=False) as session:
        upload = await load(session, principal, upload_id)
        obj = await library.load(session, upload.object_id)
        latest = await library.visible_version(session, principal, obj)
        object_type = latest.meta["type"]
    if not 1 <= number <= part_count(upload):
        raise ValidationFailed(f"Part numbers run from 1 to {part_count(upload)}.", errors=[{"field": "number", "message": "out of range"}])
    expected = expected_size(upload, number)
    source = stream.__aiter__()
    head: list[bytes] = []
    if number == 1:
        head = await files.read_head(source, min(SNIFF_BYTES, expected))
        detected = files.check_type(upload.declared_type, b"".join(head), object_type)
    else:
        detected = None
    received = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal received

        async def chunks() -> AsyncIterator[bytes]:
            for chunk in head:
                yield chunk
            async for chunk in source:
                yield chunk

        async for chunk in chunks():
            received += len(chunk)
            if received > expected:
                raise ValidationFailed(f"Part {number} must be {expected} bytes.", errors=[{"field": "body", "message": "too long"}])
            yield chunk

    part: PartInfo = await ctx.store.upload_part(upload.object_key, upload.store_upload_id, number, body())
    if received != expected:
        raise ValidationFailed(f"Part {number} must be {expected} bytes; {received} arrived.", errors=[{"field": "body", "message": "wrong size"}])
    async with db.session(write=True) as session:
        upload = await load(session, principal, upload_id)
        await repository.replace_part(session, UploadPart(session_id=upload.id, number=number, etag=part.etag, size=part.size))
        if detected is not None:
            upload.detected_type = detected
        await session.flush()
        return await to_read(session, upload)


async def complete(ctx: LearningContext, principal: Principal, upload_id: uuid.UUID) -> LearningObjectRead:
    db = ctx.db
    store = ctx.store
    async with db.session(write=False) as session:
        upload = await load(session, principal, upload_id)
        parts = await repository.parts(session, upload.id)
        obj = await library.load(session, upload.object_id)
        object_type = (await library.visible_version(session, principal, obj)).meta["type"]
    missing = sorted(set(range(1, part_count(upload) + 1)) - {p.number for p in parts})
    if missing:
        raise Conflict(f"Parts {missing[:20]} have not arrived yet.", missing_parts=missing)
    stored = await store.complete_multipart(
        upload.object_key, upload.store_upload_id, [PartInfo(p.number, p.etag, p.size) for p in parts]
    )
    head = b"".join([c async for c in store.get(upload.object_key, start=0, end=SNIFF_BYTES - 1)])
    try:
        detected = files.check_type(upload.declared_type, head, object_type)
        verdict = await files.scan_stored(ctx, upload.object_key)
        if verdict is not None and not verdict.clean:
            raise files.MalwareFound(f"The file was refused: the virus scanner found {verdict.signature}.", signature=verdict.signature)
    except BaseException:
        await store.delete(upload.object_key)
        async with db.session(write=True) as session:
            (await load(session, principal, upload_id)).status = "aborted"
        raise
    incoming = files.Incoming(upload.object_key, stored.size, stored.sha256, detected, verdict)
    prepared = await files.prepare(ctx, incoming, object_type)
    async with db.session(write=True) as session:
        upload = await load(session, principal, upload_id)
        obj, latest = await library.editable(session, principal, upload.object_id)
        blob = await files.record(ctx, session, prepared)
        version = await library.attach_file(session, principal, obj, latest, blob, upload.filename, upload.change_note)
        upload.status, upload.version = "completed", version.number
        await session.flush()
        return await library.to_read(session, obj, version)


async def abort(ctx: LearningContext, principal: Principal, upload_id: uuid.UUID) -> None:
    async with ctx.db.session(write=True) as session:
        upload = await load(session, principal, upload_id, open_only=False)
        if upload.status == "open":
            await ctx.store.abort_multipart(upload.object_key, upload.store_upload_id)
            upload.status = "aborted"
