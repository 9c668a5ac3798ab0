"""Files into assessment — a learner's file answer, a practical task's evidence — through the library's upload path
(:mod:`services.learning.files.service`): streamed into the object store with the type sniffed from the bytes
(never the declared one), size-limited, scanned by ClamAV when configured, deduplicated by SHA-256 and recorded as a
blob (so the sweeper keeps it). What assessment takes is narrower than the library: photos, video, audio, PDF and
office documents."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import PayloadTooLarge
from services.learning.context import LearningContext, context_of
from services.learning.files import service as files
from services.learning.files.rules import DOCUMENT_TYPES, UnsupportedMediaType
from services.learning.models import Blob

FAMILIES = ("image", "video", "audio", "pdf", "document")


def family_of(media_type: str) -> str | None:
    if media_type == "image/svg+xml":
        return None  # script in an image
    for prefix in ("image", "video", "audio"):
        if media_type.startswith(prefix + "/"):
            return prefix
    if media_type == "application/pdf":
        return "pdf"
    if media_type in DOCUMENT_TYPES:
        return "document"
    return None


def early_limit(request: Request, limit: int) -> None:
    """A declared length over the limit is refused before a byte is read."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(f"The file is larger than the limit of {limit} bytes.", limit=limit)


def _ctx(where: LearningContext | Request) -> LearningContext:
    # the exam routes still pass the request (services/learning/assessment/exams is being changed elsewhere)
    return where if isinstance(where, LearningContext) else context_of(where)


async def receive(where: LearningContext | Request, source: AsyncIterable[bytes], *, declared: str | None, limit: int,
                  families: Iterable[str] = FAMILIES) -> files.Prepared:
    """Stream a file in and check it is one of ``families`` by its bytes; refused (415 naming the detected type)
    otherwise, and removed from the store."""
    ctx = _ctx(where)
    allowed = set(families)
    incoming = await files.stream_in(ctx, source, declared=declared, object_type="other", limit=limit)
    early = family_of(incoming.detected_type)
    if incoming.detected_type != "application/zip" and early not in allowed:
        await ctx.store.delete(incoming.key)
        raise _refused(incoming.detected_type, allowed)
    prepared = await files.prepare(ctx, incoming, "other")
    if family_of(prepared.media_type) not in allowed:
        await discard(ctx, prepared)
        raise _refused(prepared.media_type, allowed)
    return prepared


def _refused(media_type: str, allowed: set[str]) -> UnsupportedMediaType:
    return UnsupportedMediaType(f"The file is {media_type} (detected from its bytes); this takes {', '.join(sorted(allowed))}.",
                                detected_type=media_type, accepted=sorted(allowed))


async def record(where: LearningContext | Request, session: AsyncSession, prepared: files.Prepared) -> Blob:
    return await files.record(_ctx(where), session, prepared)


async def discard(where: LearningContext | Request, prepared: files.Prepared) -> None:
    """A prepared upload that will not be recorded (refused after streaming): its bytes go, unless they were kept
    already for someone else."""
    if prepared.existing_id is None:
        await _ctx(where).store.delete(prepared.incoming.key)


async def link(where: LearningContext | Request, blob: Blob, filename: str | None) -> tuple[str, int]:
    ctx = _ctx(where)
    seconds = int(ctx.settings.download_url_seconds)
    return await ctx.store.download_url(blob.object_key, expires_seconds=seconds, filename=filename or str(blob.id)), seconds
