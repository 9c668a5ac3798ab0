"""S3 / MinIO backend over the ``minio`` SDK.

The SDK blocks, so every call runs in the store's own thread pool (not the loop's default executor, which a
slow upload must not starve). ``put`` appends the incoming chunks to a buffer on the event loop that grows with
the data up to ``part_size``: an object of at most one part is sent by one plain PUT from a store thread, holding
only its own bytes; past one part, a multipart upload starts and each full part is sent once more data follows,
hashed on the way. So a put holds at most one part whatever the object size (a one-byte put holds one byte), and
never a second copy of it (minio's own ``put_object`` holds up to three copies of a part while it cuts and sends). The explicit multipart API uses the SDK's internal ``_create_multipart_upload`` / ``_upload_part`` /
``_complete_multipart_upload`` / ``_abort_multipart_upload`` (minio 7.2 has no public ones).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import itertools
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
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
    UploadInfo,
    check_expiry,
    check_part_number,
    check_parts,
    content_disposition,
    length_mismatch,
    part_too_large,
    validate_key,
    validate_prefix,
)

__all__ = ["S3ObjectStore"]

#: part size of ``put``: the most a put holds in memory, and the size above which it uploads in parts
PUT_PART_SIZE = 16 * 1024 * 1024
#: objects or uploads listed per worker-thread hop
_LIST_BATCH = 500
_DEFAULT_TYPE = "application/octet-stream"

T = TypeVar("T")


class S3ObjectStore(ObjectStore):
    """Objects in ``bucket`` (under ``prefix/`` if given) of the S3 API at ``endpoint`` (``host:port``; an
    ``http://`` or ``https://`` scheme there overrides ``secure``).

    ``public_endpoint`` (``https://objects.example.vn``, or ``host:port`` with ``secure``'s scheme) is where clients
    outside reach the same S3 API, when that is not ``endpoint`` (``minio:9000`` inside a compose network or a
    cluster). It is used only to sign download links: a SigV4 signature covers the ``Host`` a client sends, so a
    link must be signed for the host the client will name, and the S3 server (or a proxy that keeps ``Host``) must
    answer there. Nothing is ever sent to it from here."""

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
        public_endpoint: str = "",
    ) -> None:
        public_endpoint, public_secure = _split_endpoint(public_endpoint, secure) if public_endpoint else ("", secure)
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
        #: signs links only (presigning is local: the region is given, so the SDK never asks the endpoint for it)
        self._signer = (
            Minio(
                public_endpoint,
                access_key=access_key or None,
                secret_key=secret_key or None,
                secure=public_secure,
                region=region,
                http_client=self._http,
            )
            if public_endpoint
            else self._client
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
        headers = {"Content-Type": content_type or _DEFAULT_TYPE}
        part_size = self._part_size
        # grows with the data, up to one part: a small object holds only its own bytes (a buffer of the part size
        # made up front cost every put 16 MiB of touched memory, one byte or not)
        buffer = bytearray()
        size = 0
        digest = hashlib.sha256()
        upload_id: str | None = None
        parts: list[Part] = []
        try:
            async for chunk in data:
                if not chunk:
                    continue
                if length is not None and size + len(chunk) > length:
                    raise length_mismatch(length, size + len(chunk))
                size += len(chunk)
                view = memoryview(chunk)
                while view:
                    if len(buffer) == part_size:  # a full part and more to come: the object needs parts
                        if upload_id is None:
                            upload_id = await self._start_multipart(name, headers)
                        parts.append(await self._call(self._send_part, name, upload_id, len(parts) + 1, memoryview(buffer), digest))
                        buffer = bytearray()
                    take = min(len(view), part_size - len(buffer))
                    buffer += view[:take]
                    view = view[take:]
            if length is not None and size != length:
                raise length_mismatch(length, size)
            if upload_id is None:  # up to one part: a plain PUT
                await self._call(self._send_whole, name, memoryview(buffer), headers, digest)
            else:  # the last part, never empty: a full part is sent only once more data arrived
                parts.append(await self._call(self._send_part, name, upload_id, len(parts) + 1, memoryview(buffer), digest))
                await self._call(self._client._complete_multipart_upload, self.bucket, name, upload_id, parts)
        except BaseException as exc:
            if upload_id is not None:
                abort = self._executor.submit(self._abort_quietly, name, upload_id)
                if not isinstance(exc, asyncio.CancelledError):  # a cancelled put leaves it to the thread
                    await asyncio.wrap_future(abort)
            raise
        return StoredObject(key, size, digest.hexdigest(), content_type)

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

    async def list_objects(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        validate_prefix(prefix)
        strip = len(self.prefix) + 1 if self.prefix else 0
        listing = self._client.list_objects(self.bucket, prefix=self._full(prefix), recursive=True)
        while batch := await self._call(_take, listing, _LIST_BATCH):
            for item in batch:
                if item.is_dir or not item.object_name:
                    continue
                yield ObjectInfo(
                    key=item.object_name[strip:], size=item.size or 0, content_type=item.content_type,
                    etag=(item.etag or "").strip('"'), last_modified=item.last_modified,
                )

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
        body = bytearray()  # grown in place (a large realloc remaps rather than copies): one copy of the part
        async for chunk in data:
            if len(body) + len(chunk) > MAX_PART_SIZE:
                raise part_too_large()
            body += chunk
        size = len(body)
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

    async def list_multipart(self, prefix: str = "") -> AsyncIterator[UploadInfo]:
        validate_prefix(prefix)
        strip = len(self.prefix) + 1 if self.prefix else 0
        key_marker: str | None = None
        upload_marker: str | None = None
        while True:
            result = await self._call(
                self._client._list_multipart_uploads, self.bucket, prefix=self._full(prefix),
                key_marker=key_marker, upload_id_marker=upload_marker, max_uploads=_LIST_BATCH,
            )
            for upload in result.uploads:
                if upload.object_name and upload.upload_id:
                    yield UploadInfo(upload.object_name[strip:], upload.upload_id, upload.initiated_time)
            # minio 7.2 stores NextUploadIdMarker under a misspelt attribute name
            next_upload = result.next_upload_id_marker or getattr(result, "self._next_upload_id_marker", None)
            if not result.is_truncated or not result.uploads:
                return
            key_marker = result.next_key_marker or result.uploads[-1].object_name
            upload_marker = next_upload or result.uploads[-1].upload_id

    # -- links and health ----------------------------------------------------------------------------------

    async def download_url(self, key: str, *, expires_seconds: int = 900, filename: str | None = None) -> str:
        name = self._name(key)
        check_expiry(expires_seconds)
        response_headers = (
            {"response-content-disposition": content_disposition(filename)} if filename is not None else None
        )
        return await self._call(
            self._signer.presigned_get_object,
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

    def _full(self, prefix: str) -> str:
        return f"{self.prefix}/{prefix}" if self.prefix else prefix

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking SDK call in the store's threads, S3 errors translated."""
        loop = asyncio.get_running_loop()
        return await _translated(loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs)))

    async def _start_multipart(self, name: str, headers: dict[str, str]) -> str:
        """Open ``put``'s multipart upload. Cancelled while the store is still opening it, the upload is aborted as
        soon as it exists (else it would stay open in the bucket, an upload nobody knows the id of)."""
        future = self._executor.submit(self._client._create_multipart_upload, self.bucket, name, dict(headers))
        try:
            return await _translated(asyncio.wrap_future(future))
        except asyncio.CancelledError:
            future.add_done_callback(functools.partial(self._abort_opened, name))
            raise

    def _abort_opened(self, name: str, future: Any) -> None:
        if not future.cancelled() and future.exception() is None:
            with contextlib.suppress(RuntimeError):  # the store was closed meanwhile
                self._executor.submit(self._abort_quietly, name, future.result())

    def _send_part(self, name: str, upload_id: str, number: int, body: memoryview, digest: Any) -> Part:
        digest.update(body)  # hashlib lets go of the GIL on large buffers
        return Part(number, self._client._upload_part(self.bucket, name, body, None, upload_id, number))  # type: ignore[arg-type]

    def _send_whole(self, name: str, body: memoryview | bytes, headers: dict[str, str], digest: Any) -> None:
        digest.update(body)
        self._client._put_object(self.bucket, name, body, dict(headers))  # type: ignore[arg-type]

    def _abort_quietly(self, name: str, upload_id: str) -> None:
        with contextlib.suppress(Exception):
            self._client._abort_multipart_upload(self.bucket, name, upload_id)

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


def _split_endpoint(url: str, secure: bool) -> tuple[str, bool]:
    """``https://objects.example.vn`` → (``objects.example.vn``, True); ``host:port`` keeps ``secure``. An S3
    endpoint is a host and a port only: a path, query or credentials in it is refused rather than dropped."""
    for scheme in ("http://", "https://"):
        if url.startswith(scheme):
            url, secure = url[len(scheme) :], scheme == "https://"
    host = url.rstrip("/")
    if not host or any(c in host for c in "/?#@ "):
        raise ValueError(f"public object store URL {url!r} must be scheme://host[:port], without a path")
    return host, secure


def _take(iterator: Iterator[T], count: int) -> list[T]:
    return list(itertools.islice(iterator, count))


def _check_upload_id(upload_id: str) -> None:
    if not isinstance(upload_id, str) or not upload_id:
        raise NotFound("no such upload")
