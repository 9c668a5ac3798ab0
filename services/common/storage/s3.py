"""S3 / MinIO backend over the ``minio`` SDK.

The SDK blocks, so every call runs in the store's own thread pool (not the loop's default executor, which a
slow upload must not starve). ``put`` hands minio's ``put_object(length=-1)`` a file-like reader fed from the
event loop through a bounded queue: minio cuts the stream into ``part_size`` parts and switches to a multipart
upload on its own once the object outgrows one part, so memory stays at about one part whatever the object
size. The explicit multipart API uses the SDK's internal ``_create_multipart_upload`` / ``_upload_part`` /
``_complete_multipart_upload`` / ``_abort_multipart_upload`` (minio 7.2 has no public ones).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import os
import queue
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, TypeVar

import certifi
import urllib3
from minio import Minio
from minio.datatypes import Part
from minio.error import S3Error

from services.common.errors import NotFound, ServiceUnavailable, ValidationFailed
from services.common.storage import (
    MAX_PART_SIZE,
    READ_CHUNK,
    ObjectInfo,
    ObjectStore,
    PartInfo,
    RangeNotSatisfiable,
    StoredObject,
    check_expiry,
    check_part_number,
    check_parts,
    content_disposition,
    length_mismatch,
    part_too_large,
    validate_key,
)

__all__ = ["S3ObjectStore"]

#: part size of ``put``: what minio buffers per part, and the size above which it uploads in parts
PUT_PART_SIZE = 16 * 1024 * 1024
#: chunks the loop may queue ahead of the uploading thread
_QUEUE_DEPTH = 8
#: a put whose producer has gone silent this long is abandoned (guards a leaked worker thread)
_IDLE_SECONDS = 600.0
_DEFAULT_TYPE = "application/octet-stream"

T = TypeVar("T")


class S3ObjectStore(ObjectStore):
    """Objects in ``bucket`` (under ``prefix/`` if given) of the S3 API at ``endpoint`` (``host:port``; an
    ``http://`` or ``https://`` scheme there overrides ``secure``)."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint: str,
        prefix: str = "",
        access_key: str = "",
        secret_key: str = "",
        secure: bool = False,
        region: str = "us-east-1",
        part_size: int = PUT_PART_SIZE,
        max_workers: int = 32,
    ) -> None:
        for scheme in ("http://", "https://"):
            if endpoint.startswith(scheme):
                endpoint, secure = endpoint[len(scheme) :], scheme == "https://"
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            validate_key(self.prefix)
        self.endpoint = endpoint.rstrip("/")
        self._part_size = part_size
        self._http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=5, read=120),
            maxsize=max_workers,
            cert_reqs="CERT_REQUIRED",
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            retries=urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
        )
        self._client = Minio(
            self.endpoint,
            access_key=access_key or None,
            secret_key=secret_key or None,
            secure=secure,
            region=region,
            http_client=self._http,
        )
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="s3-store")

    def __repr__(self) -> str:
        where = f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket
        return f"S3ObjectStore({self.endpoint!r}, {where!r})"

    # -- plain objects -------------------------------------------------------------------------------------

    async def put(
        self,
        key: str,
        data: AsyncIterable[bytes],
        *,
        content_type: str | None = None,
        length: int | None = None,
    ) -> StoredObject:
        name = self._name(key)
        loop = asyncio.get_running_loop()
        bridge = _StreamBridge(loop, length)
        upload = loop.run_in_executor(
            self._executor, self._put_blocking, name, bridge, content_type or _DEFAULT_TYPE
        )
        try:
            async for chunk in data:
                if not chunk:
                    continue
                await bridge.slots.acquire()
                if bridge.closed:  # the upload failed; its error surfaces below
                    break
                bridge.feed(bytes(chunk))
            bridge.finish()
            await _translated(upload)
        except BaseException as exc:
            bridge.abort()  # minio aborts its multipart upload when the reader raises
            if isinstance(exc, asyncio.CancelledError):  # the thread winds down on its own
                upload.add_done_callback(_discard_outcome)
            else:
                with contextlib.suppress(Exception):
                    await upload
            raise
        return StoredObject(key, bridge.size, bridge.sha256.hexdigest(), content_type)

    async def get(self, key: str, *, start: int | None = None, end: int | None = None) -> AsyncIterator[bytes]:
        name = self._name(key)
        headers = {}
        if start is not None or end is not None:
            if (start is not None and start < 0) or (end is not None and end < 0):
                raise ValueError("range bounds must not be negative")
            if start is not None and end is not None and end < start:
                raise ValueError("range end must not be before its start")
            headers["Range"] = f"bytes={start or 0}-{'' if end is None else end}"
        response = await self._call(self._client.get_object, self.bucket, name, request_headers=headers)
        try:
            while chunk := await self._call(response.read, READ_CHUNK):
                yield chunk
        finally:
            response.close()
            response.release_conn()

    async def stat(self, key: str) -> ObjectInfo:
        result = await self._call(self._client.stat_object, self.bucket, self._name(key))
        return ObjectInfo(
            key=key,
            size=result.size or 0,
            content_type=result.content_type,
            etag=result.etag or "",
            last_modified=result.last_modified,
        )

    async def delete(self, key: str) -> None:
        await self._call(self._client.remove_object, self.bucket, self._name(key))

    # -- resumable uploads ---------------------------------------------------------------------------------

    async def create_multipart(self, key: str, content_type: str | None = None) -> str:
        headers = {"Content-Type": content_type or _DEFAULT_TYPE}
        return await self._call(self._client._create_multipart_upload, self.bucket, self._name(key), headers)

    async def upload_part(
        self, key: str, upload_id: str, part_number: int, data: AsyncIterable[bytes]
    ) -> PartInfo:
        check_part_number(part_number)
        name = self._name(key)
        _check_upload_id(upload_id)
        chunks: list[bytes] = []
        size = 0
        async for chunk in data:
            size += len(chunk)
            if size > MAX_PART_SIZE:
                raise part_too_large()
            chunks.append(bytes(chunk))
        body = b"".join(chunks)
        del chunks
        etag = await self._call(
            self._client._upload_part, self.bucket, name, body, None, upload_id, part_number
        )
        return PartInfo(part_number, etag, size)

    async def complete_multipart(self, key: str, upload_id: str, parts: list[PartInfo]) -> StoredObject:
        check_parts(parts)
        name = self._name(key)
        _check_upload_id(upload_id)
        s3_parts = [Part(p.part_number, p.etag.strip('"')) for p in parts]
        await self._call(self._client._complete_multipart_upload, self.bucket, name, upload_id, s3_parts)
        size, sha256, content_type = await self._call(self._hash_object, name)
        return StoredObject(key, size, sha256, content_type)

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        name = self._name(key)
        if not isinstance(upload_id, str) or not upload_id:
            return
        with contextlib.suppress(NotFound):
            await self._call(self._client._abort_multipart_upload, self.bucket, name, upload_id)

    # -- links and health ----------------------------------------------------------------------------------

    async def download_url(self, key: str, *, expires_seconds: int = 900, filename: str | None = None) -> str:
        name = self._name(key)
        check_expiry(expires_seconds)
        response_headers = (
            {"response-content-disposition": content_disposition(filename)} if filename is not None else None
        )
        return await self._call(
            self._client.presigned_get_object,
            self.bucket,
            name,
            expires=timedelta(seconds=expires_seconds),
            response_headers=response_headers,
        )

    async def ping(self) -> None:
        if not await self._call(self._client.bucket_exists, self.bucket):
            raise ServiceUnavailable(f"bucket {self.bucket!r} does not exist")

    async def ensure_ready(self) -> None:
        if await self._call(self._client.bucket_exists, self.bucket):
            return
        try:
            await self._call(self._client.make_bucket, self.bucket)
        except S3Error as exc:  # created meanwhile by another instance
            if exc.code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._http.clear()

    # -- internals -----------------------------------------------------------------------------------------

    def _name(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking SDK call in the store's threads, S3 errors translated."""
        loop = asyncio.get_running_loop()
        return await _translated(loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs)))

    def _put_blocking(self, name: str, bridge: _StreamBridge, content_type: str) -> None:
        try:
            self._client.put_object(
                self.bucket,
                name,
                bridge,  # type: ignore[arg-type]  # file-like: read(size)
                length=-1,
                part_size=self._part_size,
                content_type=content_type,
                num_parallel_uploads=1,  # one part in memory at a time
            )
        finally:
            bridge.close()

    def _hash_object(self, name: str) -> tuple[int, str, str | None]:
        """Stream an object back once: its size, SHA-256 and content type."""
        response = self._client.get_object(self.bucket, name)
        try:
            digest, size = hashlib.sha256(), 0
            while chunk := response.read(READ_CHUNK):
                digest.update(chunk)
                size += len(chunk)
            return size, digest.hexdigest(), response.headers.get("Content-Type")
        finally:
            response.close()
            response.release_conn()


async def _translated(future: asyncio.Future[T]) -> T:
    try:
        return await future
    except S3Error as exc:
        raise _translate(exc) from exc
    except urllib3.exceptions.HTTPError as exc:  # refused, timed out, retries exhausted
        raise ServiceUnavailable("the object store cannot be reached") from exc


def _translate(exc: S3Error) -> Exception:
    """S3 error codes that are the caller's doing become the platform's errors; the rest stay S3Error."""
    code = exc.code or ""
    if code == "NoSuchKey":
        return NotFound("no object with this key")
    if code == "NoSuchUpload":
        return NotFound("no such upload")
    if code == "NoSuchBucket":
        return ServiceUnavailable("the object store bucket does not exist")
    if code == "InvalidRange":
        return RangeNotSatisfiable("the range starts past the end of the object")
    if code in {"InvalidPart", "InvalidPartOrder", "EntityTooSmall"}:
        message = exc.message or code
        return ValidationFailed(message, errors=[{"field": "parts", "message": message}], code=code)
    return exc


def _discard_outcome(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _check_upload_id(upload_id: str) -> None:
    if not isinstance(upload_id, str) or not upload_id:
        raise NotFound("no such upload")


class _Aborted(Exception):
    """The producer side of a put failed or was cancelled."""


_EOF = object()
_ABORT = object()


class _StreamBridge:
    """A file-like ``read(size)`` for minio's worker thread, fed chunk by chunk from the event loop.

    The loop side waits on ``slots`` (an asyncio semaphore the thread releases as it takes chunks), so at most
    ``_QUEUE_DEPTH`` chunks wait in the queue; the thread hashes and counts exactly what it hands to minio.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, length: int | None) -> None:
        self._loop = loop
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._pending: deque[bytes] = deque()
        self._buffered = 0
        self._eof = False
        self.length = length
        self.slots = asyncio.Semaphore(_QUEUE_DEPTH)
        self.closed = False
        self.sha256 = hashlib.sha256()
        self.size = 0

    # event loop side
    def feed(self, chunk: bytes) -> None:
        self._queue.put(chunk)

    def finish(self) -> None:
        self._queue.put(_EOF)

    def abort(self) -> None:
        self._queue.put(_ABORT)

    # worker thread side
    def read(self, size: int = -1) -> bytes:
        while not self._eof and (size < 0 or self._buffered < size):
            try:
                item = self._queue.get(timeout=_IDLE_SECONDS)
            except queue.Empty:
                raise _Aborted("the upload stream went idle") from None
            if item is _ABORT:
                raise _Aborted("the upload stream failed")
            if item is _EOF:
                self._eof = True
                break
            assert isinstance(item, bytes)
            self._pending.append(item)
            self._buffered += len(item)
            self._release_slot()
        out = self._take(size)
        if self.length is not None:
            total = self.size + len(out)
            if total > self.length or (self._eof and not self._buffered and total != self.length):
                raise length_mismatch(self.length, total)
        self.sha256.update(out)
        self.size += len(out)
        return out

    def close(self) -> None:
        """The upload ended (done or failed): stop the producer waiting for room."""
        self.closed = True
        self._release_slot()

    def _take(self, size: int) -> bytes:
        if size < 0 or size >= self._buffered:
            out = b"".join(self._pending)
            self._pending.clear()
            self._buffered = 0
            return out
        parts, need = [], size
        while need:
            chunk = self._pending.popleft()
            if len(chunk) > need:
                self._pending.appendleft(chunk[need:])
                chunk = chunk[:need]
            parts.append(chunk)
            need -= len(chunk)
        self._buffered -= size
        return b"".join(parts)

    def _release_slot(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone
            self._loop.call_soon_threadsafe(self.slots.release)
