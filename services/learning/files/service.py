"""Files into the library: streamed into the object store with the type sniffed from the first bytes, SHA-256
and size counted on the way, a size limit, a ClamAV scan alongside when clamd is configured; then deduplicated
by SHA-256 (identical bytes are stored once, whoever sends them), zips looked into (docx / pptx / H5P / SCORM /
cmi5) and packages unpacked for the player.

Objects arrive under ``learning/incoming/<uuid>``; the first upload of some bytes keeps its key, and the
``blobs`` table maps each SHA-256 to the one key holding it. (A content-derived key would need a server-side
copy or rename in the object store API, which it does not have yet.)"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
import unicodedata
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.clamav import ClamdStream, ScanVerdict
from services.common.errors import AppError, PayloadTooLarge, ValidationFailed
from services.common.sniff import SNIFF_BYTES, contradicts, sniff
from services.common.storage import ObjectStore
from services.learning.context import LearningContext
from services.learning.files.rules import UnsupportedMediaType, ensure_accepts, may_be
from services.learning.library import repository
from services.learning.library import service as library
from services.learning.library.schemas import LearningObjectRead
from services.learning.models import Blob, Package
from services.learning.packages.service import ZipLimits, ZipReport, inspect_zip, unpack


class MalwareFound(AppError):
    status, title, slug = 422, "Malware found", "malware-found"


@dataclass
class Incoming:
    key: str
    size: int
    sha256: str
    detected_type: str
    scan: ScanVerdict | None


def safe_filename(name: str | None) -> str | None:
    """The last path segment, NFC, without control characters or leading dots, at most 200 characters."""
    if not name:
        return None
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\x00-\x1f\x7f<>:\"|?*]", "_", name).strip().lstrip(".").strip()
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 200 - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else name[:200]
    return name or None


def incoming_key() -> str:
    return f"learning/incoming/{uuid.uuid4().hex}"


async def read_head(source: AsyncIterator[bytes], want: int = SNIFF_BYTES) -> list[bytes]:
    """Pull chunks until ``want`` bytes (or the end) have arrived."""
    chunks, got = [], 0
    while got < want:
        try:
            chunk = await source.__anext__()
        except StopAsyncIteration:
            break
        if chunk:
            chunks.append(bytes(chunk))
            got += len(chunk)
    return chunks


def check_type(declared: str | None, head: bytes, object_type: str) -> str:
    """Sniff ``head``; refuse a declared type the bytes contradict, or a file the object's type cannot carry."""
    detected = sniff(head[:SNIFF_BYTES])
    if contradicts(declared, detected):
        raise UnsupportedMediaType(
            f"The file was declared as {declared} but its bytes are {detected}.", declared_type=declared, detected_type=detected
        )
    if not may_be(object_type, detected):
        ensure_accepts(object_type, detected)
    return detected


async def stream_in(
    ctx: LearningContext, source: AsyncIterable[bytes], *, declared: str | None, object_type: str, limit: int | None = None
) -> Incoming:
    """Stream ``source`` into the store under a fresh incoming key; NotFound-free, size-limited, scanned."""
    store: ObjectStore = ctx.store
    limit = limit or ctx.settings.max_upload_bytes
    iterator = source.__aiter__()
    head = await read_head(iterator)
    if not head:
        raise ValidationFailed("The upload is empty.", errors=[{"field": "file", "message": "empty"}])
    detected = check_type(declared, b"".join(head), object_type)
    scanner = ctx.scanner()
    scan: ClamdStream | None = await scanner.open() if scanner else None
    size = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal size

        async def all_chunks() -> AsyncIterator[bytes]:
            for chunk in head:
                yield chunk
            async for chunk in iterator:
                if chunk:
                    yield bytes(chunk)

        async for chunk in all_chunks():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"The file is larger than the limit of {limit} bytes.", limit=limit)
            if scan is not None:
                await scan.feed(chunk)
            yield chunk

    key = incoming_key()
    try:
        stored = await store.put(key, body(), content_type=detected)
    except BaseException:
        if scan is not None:
            await scan.abort()
        raise
    verdict = await scan.finish() if scan is not None else None
    incoming = Incoming(key, stored.size, stored.sha256, detected, verdict)
    if verdict is not None and not verdict.clean:
        await store.delete(key)
        raise MalwareFound(f"The file was refused: the virus scanner found {verdict.signature}.", signature=verdict.signature)
    return incoming


async def scan_stored(ctx: LearningContext, key: str) -> ScanVerdict | None:
    """Scan an object already in the store (resumable uploads are scanned once assembled)."""
    scanner = ctx.scanner()
    if scanner is None:
        return None
    scan = await scanner.open()
    try:
        async for chunk in ctx.store.get(key, end=scanner.max_bytes):
            await scan.feed(chunk)
    except BaseException:
        await scan.abort()
        raise
    verdict = await scan.finish()
    if not verdict.truncated:
        info = await ctx.store.stat(key)
        verdict = ScanVerdict(verdict.clean, verdict.signature, info.size > verdict.scanned_bytes, verdict.scanned_bytes)
    return verdict


def limits_of(ctx: LearningContext) -> ZipLimits:
    s = ctx.settings
    return ZipLimits(s.package_max_entries, s.package_max_expanded_bytes, s.package_max_ratio)


@contextlib.asynccontextmanager
async def spooled(store: ObjectStore, key: str) -> AsyncIterator[Path]:
    """A stored object copied to a local temporary file (zipfile needs to seek)."""
    fd, name = tempfile.mkstemp(prefix="learning-zip-", suffix=".zip")
    os.close(fd)
    path = Path(name)
    try:
        file = await asyncio.to_thread(path.open, "wb")
        try:
            async for chunk in store.get(key):
                await asyncio.to_thread(file.write, chunk)
        finally:
            await asyncio.to_thread(file.close)
        yield path
    finally:
        with contextlib.suppress(OSError):
            await asyncio.to_thread(path.unlink)


@dataclass
class Prepared:
    """An upload checked and ready to record: either bytes already kept (``existing``) or a new blob."""

    incoming: Incoming
    existing_id: uuid.UUID | None
    media_type: str
    package: ZipReport | None = None
    package_prefix: str | None = None
    file_count: int = 0


async def prepare(ctx: LearningContext, incoming: Incoming, object_type: str) -> Prepared:
    """Deduplicate, look into zips, unpack packages — outside any database transaction (the store work may take
    a while). On refusal the incoming object is removed, unless it is bytes already kept."""
    store: ObjectStore = ctx.store
    async with ctx.db.session(write=False) as session:
        existing = await repository.blob_by_sha(session, incoming.sha256)
        package = await session.get(Package, existing.id) if existing is not None else None
    if existing is not None:
        if existing.object_key != incoming.key:
            await store.delete(incoming.key)
        ensure_accepts(object_type, existing.content_type, package.kind if package else None)
        return Prepared(incoming, existing.id, existing.content_type)
    try:
        prepared = Prepared(incoming, None, incoming.detected_type)
        if incoming.detected_type == "application/zip":
            async with spooled(store, incoming.key) as path:
                expect = object_type if object_type in ("scorm", "cmi5") else None
                report = await asyncio.to_thread(inspect_zip, path, limits_of(ctx), expect_package=expect)
                ensure_accepts(object_type, report.media_type, report.package_kind)
                prepared.media_type, prepared.package = report.media_type, report
                if report.package_kind:
                    prepared.package_prefix = f"learning/packages/{incoming.sha256}"
                    prepared.file_count = await unpack(store, path, prepared.package_prefix, limits_of(ctx))
        else:
            ensure_accepts(object_type, incoming.detected_type)
        return prepared
    except BaseException:
        await store.delete(incoming.key)
        raise


async def record(ctx: LearningContext, session: AsyncSession, prepared: Prepared) -> Blob:
    """The blob row (and package row) for a prepared upload, in the caller's transaction."""
    if prepared.existing_id is not None:
        blob = await session.get(Blob, prepared.existing_id)
        assert blob is not None
        return blob
    incoming = prepared.incoming
    scan_status = "not_scanned"
    if incoming.scan is not None:
        scan_status = "partial" if incoming.scan.truncated else "clean"
    blob = Blob(sha256=incoming.sha256, object_key=incoming.key, size=incoming.size, content_type=prepared.media_type, scan_status=scan_status)
    try:
        async with session.begin_nested():
            session.add(blob)
            await session.flush()
    except IntegrityError:  # the same bytes were kept by a concurrent upload meanwhile
        raced = await repository.blob_by_sha(session, incoming.sha256)
        assert raced is not None
        await ctx.store.delete(incoming.key)
        return raced
    report = prepared.package
    if report is not None and report.package_kind:
        session.add(Package(
            blob_id=blob.id, kind=report.package_kind, manifest=report.manifest, launch_path=report.launch_path or "",
            content_prefix=prepared.package_prefix or "", file_count=prepared.file_count, expanded_bytes=report.expanded_bytes,
        ))
        await session.flush()
    return blob


async def upload(ctx: LearningContext, principal: Principal, object_id: uuid.UUID, source: AsyncIterable[bytes], *,
                 declared: str | None, filename: str | None, note: str | None, if_match: str | None) -> LearningObjectRead:
    """A one-shot upload: ``source`` streamed in, checked and recorded as a new version of the learning object. No
    transaction is held while the bytes stream; the object is checked editable before and again after."""
    async with ctx.db.session(write=False) as session:
        _, latest = await library.editable(session, principal, object_id, if_match)
        object_type = latest.meta["type"]
    incoming = await stream_in(ctx, source, declared=declared, object_type=object_type)
    prepared = await prepare(ctx, incoming, object_type)
    async with ctx.db.session(write=True) as session:
        obj, latest = await library.editable(session, principal, object_id)
        blob = await record(ctx, session, prepared)
        version = await library.attach_file(session, principal, obj, latest, blob, safe_filename(filename), note)
        return await library.to_read(session, obj, version)
