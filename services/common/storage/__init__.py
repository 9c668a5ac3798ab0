"""Object store: one async API over a local folder and S3/MinIO.

Pick the backend with :func:`open_store` from ``object_store_url``:

* ``file://var/objects`` (relative) or ``file:///srv/objects`` (absolute): :class:`LocalObjectStore`, a folder;
  downloads go through a signed route of the service (:func:`services.common.storage.routes.objects_router`).
* ``s3://bucket`` or ``s3://bucket/prefix``: :class:`S3ObjectStore`; downloads are presigned S3 URLs.

Every operation streams: ``put`` and ``upload_part`` take an async iterable of byte chunks, ``get`` yields chunks,
so an object never sits in memory whole (one S3 part does, see :data:`MAX_PART_SIZE`). Keys are ``/``-separated
relative paths, checked by :func:`validate_key` the same way on both backends so a key valid on one is valid on
the other.
"""

from __future__ import annotations

import abc
import itertools
import re
import unicodedata
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from services.common.errors import AppError, NotFound, PayloadTooLarge, ValidationFailed

__all__ = [
    "LocalObjectStore",
    "MAX_PART_SIZE",
    "MIN_PART_SIZE",
    "ObjectInfo",
    "ObjectStore",
    "PartInfo",
    "RangeNotSatisfiable",
    "S3ObjectStore",
    "StoredObject",
    "UploadInfo",
    "content_disposition",
    "open_store",
    "validate_key",
]

#: every part of a multipart upload but the last must be at least this big (the S3 rule, kept by both backends)
MIN_PART_SIZE = 5 * 1024 * 1024
#: the largest part ``upload_part`` accepts; S3 holds one part in memory while sending it
MAX_PART_SIZE = 64 * 1024 * 1024
#: S3 numbers parts 1..10000
MAX_PART_NUMBER = 10_000
#: size of the chunks ``get`` yields
READ_CHUNK = 1024 * 1024
MAX_KEY_BYTES = 1024
#: longest lifetime of a download URL (the S3 presigning limit)
MAX_URL_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class StoredObject:
    """What ``put`` / ``complete_multipart`` wrote: ``sha256`` is the hex digest of the bytes as stored."""

    key: str
    size: int
    sha256: str
    content_type: str | None


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """Metadata of a stored object. ``etag`` is opaque and unquoted; it changes when the content changes."""

    key: str
    size: int
    content_type: str | None
    etag: str
    last_modified: datetime | None


@dataclass(frozen=True, slots=True)
class PartInfo:
    """One uploaded part of a multipart upload; hand the list back to ``complete_multipart``."""

    part_number: int
    etag: str
    size: int


@dataclass(frozen=True, slots=True)
class UploadInfo:
    """A resumable (multipart) upload still open in the store: neither completed nor aborted."""

    key: str
    upload_id: str
    initiated: datetime | None


class RangeNotSatisfiable(AppError):
    """The requested byte range starts past the end of the object (HTTP 416)."""

    status, title, slug = 416, "Range not satisfiable", "range-not-satisfiable"


class ObjectStore(abc.ABC):
    """The object store API every backend implements. All I/O is async and streaming."""

    @abc.abstractmethod
    async def put(
        self,
        key: str,
        data: AsyncIterable[bytes],
        *,
        content_type: str | None = None,
        length: int | None = None,
    ) -> StoredObject:
        """Store ``data`` under ``key``, replacing any object there; readers see the old or the new object,
        never a part. With ``length`` the stream must yield exactly that many bytes (else ValidationFailed and
        nothing is stored)."""

    @abc.abstractmethod
    def get(self, key: str, *, start: int | None = None, end: int | None = None) -> AsyncIterator[bytes]:
        """Yield the object's bytes ``start..end`` (inclusive, like an HTTP Range; ``end`` past the object is
        clamped). NotFound and RangeNotSatisfiable are raised when iteration starts."""

    @abc.abstractmethod
    async def stat(self, key: str) -> ObjectInfo:
        """Metadata of ``key``; NotFound if there is no such object."""

    async def exists(self, key: str) -> bool:
        try:
            await self.stat(key)
        except NotFound:
            return False
        return True

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Remove ``key``; deleting a missing object is not an error."""

    def list_objects(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Yield every object whose key starts with ``prefix`` (a plain string prefix, ``""`` for all), in no
        promised order, listed lazily in batches. Objects written or deleted meanwhile may or may not appear.
        ``content_type`` may be None (S3 listings do not carry it; ``stat`` does). The folder store reads each
        object's sidecar, so listing costs one small read per object there."""
        raise NotImplementedError

    def list_multipart(self, prefix: str = "") -> AsyncIterator[UploadInfo]:
        """Yield the open resumable uploads of keys starting with ``prefix`` (for sweeping abandoned ones)."""
        raise NotImplementedError

    @abc.abstractmethod
    async def create_multipart(self, key: str, content_type: str | None = None) -> str:
        """Start a resumable upload of ``key``; returns the upload id."""

    @abc.abstractmethod
    async def upload_part(
        self, key: str, upload_id: str, part_number: int, data: AsyncIterable[bytes]
    ) -> PartInfo:
        """Store part ``part_number`` (1..10000) of an upload; uploading a number again replaces that part."""

    @abc.abstractmethod
    async def complete_multipart(self, key: str, upload_id: str, parts: list[PartInfo]) -> StoredObject:
        """Assemble ``parts`` (ascending part numbers; all but the last >= MIN_PART_SIZE) into ``key``."""

    @abc.abstractmethod
    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Drop an upload and its parts; aborting an unknown or finished upload is not an error."""

    @abc.abstractmethod
    async def download_url(self, key: str, *, expires_seconds: int = 900, filename: str | None = None) -> str:
        """A URL that lets its holder download ``key`` until it expires; ``filename`` makes it an attachment."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise if the store cannot serve requests (used by ``/readyz``)."""

    @abc.abstractmethod
    async def ensure_ready(self) -> None:
        """Create what the store needs (the folder, the bucket); safe to call every start."""

    async def aclose(self) -> None:  # noqa: B027 - a default on purpose: a store holding nothing to release keeps it
        """Release resources (threads, connections). The store must not be used afterwards."""


_UNSAFE_KEY_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")


def validate_key(key: str) -> str:
    """Return ``key`` if it is a valid object key, else raise ValidationFailed on field ``key``.

    A key is a relative ``/``-separated path: not empty, at most 1024 UTF-8 bytes, no leading ``/``, no empty,
    ``.`` or ``..`` segment, no backslash or control character, and no segment starting with ``.`` (hidden
    names are reserved for the store's own temporary and staging files).
    """
    problem = _key_problem(key)
    if problem:
        raise ValidationFailed(f"invalid object key: {problem}", errors=[{"field": "key", "message": problem}])
    return key


def _key_problem(key: object) -> str | None:
    if not isinstance(key, str) or not key:
        return "the key must be a non-empty string"
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        return f"the key must be at most {MAX_KEY_BYTES} bytes"
    if _UNSAFE_KEY_CHARS.search(key):
        return "the key must not contain backslashes or control characters"
    if key.startswith("/"):
        return "the key must be a relative path"
    for segment in key.split("/"):
        if not segment:
            return "the key must not contain empty path segments"
        if segment in {".", ".."}:
            return "the key must not contain '.' or '..' segments"
        if segment.startswith("."):
            return "key segments must not start with '.'"
    return None


def validate_prefix(prefix: str) -> str:
    """A listing prefix: ``""``, or what could begin a valid key (ValidationFailed on field ``prefix`` else)."""
    if prefix:
        problem = _key_problem(prefix.rstrip("/") or "/")
        if problem:
            raise ValidationFailed(f"invalid key prefix: {problem}", errors=[{"field": "prefix", "message": problem}])
    return prefix


def resolve_range(size: int, start: int | None, end: int | None) -> tuple[int, int]:
    """Turn an inclusive ``start..end`` request into ``(offset, length)`` for an object of ``size`` bytes."""
    if (start is not None and start < 0) or (end is not None and end < 0):
        raise ValueError("range bounds must not be negative")
    if start is not None and end is not None and end < start:
        raise ValueError("range end must not be before its start")
    if start is None and end is None:
        return 0, size
    first = start or 0
    if first >= size:
        raise RangeNotSatisfiable(
            f"range starts at byte {first} but the object has {size} bytes",
            headers={"Content-Range": f"bytes */{size}"},
        )
    last = size - 1 if end is None else min(end, size - 1)
    return first, last - first + 1


def check_part_number(part_number: int) -> None:
    if not isinstance(part_number, int) or not 1 <= part_number <= MAX_PART_NUMBER:
        message = f"the part number must be between 1 and {MAX_PART_NUMBER}"
        raise ValidationFailed(message, errors=[{"field": "part_number", "message": message}])


def check_parts(parts: list[PartInfo]) -> None:
    """The list ``complete_multipart`` accepts: non-empty, part numbers strictly ascending."""
    if not parts:
        raise ValidationFailed("no parts to assemble", errors=[{"field": "parts", "message": "empty"}])
    numbers = [p.part_number for p in parts]
    if any(b <= a for a, b in itertools.pairwise(numbers)):
        message = "parts must be listed in strictly ascending part number order"
        raise ValidationFailed(message, errors=[{"field": "parts", "message": message}])


def check_expiry(expires_seconds: int) -> None:
    if not 1 <= expires_seconds <= MAX_URL_SECONDS:
        raise ValueError(f"expires_seconds must be between 1 and {MAX_URL_SECONDS}")


def length_mismatch(expected: int, got: int) -> ValidationFailed:
    message = f"expected {expected} bytes, received {got}"
    return ValidationFailed(message, errors=[{"field": "length", "message": message}])


def part_too_large() -> PayloadTooLarge:
    return PayloadTooLarge(f"a part must be at most {MAX_PART_SIZE} bytes")


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """``Content-Disposition`` value for ``filename`` (RFC 6266): an ASCII fallback plus the UTF-8 name, so
    Vietnamese file names ("Bằng tốt nghiệp.pdf") survive."""
    fallback = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    fallback = re.sub(r'[\x00-\x1f\x7f"\\/;]', "_", fallback).strip() or "download"
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def open_store(
    url: str,
    *,
    s3_endpoint: str = "",
    s3_access_key: str = "",
    s3_secret_key: str = "",
    s3_secure: bool = False,
    s3_region: str = "us-east-1",
    s3_public_url: str = "",
    secret_key: str,
    public_base_url: str,
    route_prefix: str = "/v1/objects",
) -> ObjectStore:
    """Open the store named by ``url`` (``file://path`` or ``s3://bucket[/prefix]``); nothing is touched until
    the first call (use ``ensure_ready``). ``secret_key``, ``public_base_url`` and ``route_prefix`` build the
    folder store's signed download links; the ``s3_*`` arguments reach the S3 endpoint, and ``s3_public_url`` (when
    set) is the host clients outside reach that endpoint at, used only to sign download links."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise ValueError(f"object store URL {url!r} has no scheme; use file://path or s3://bucket[/prefix]")
    if scheme == "file":
        if not rest:
            raise ValueError("file:// object store URL needs a path, e.g. file://var/objects")
        return LocalObjectStore(
            rest, secret_key=secret_key, public_base_url=public_base_url, route_prefix=route_prefix
        )
    if scheme == "s3":
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise ValueError("s3:// object store URL needs a bucket, e.g. s3://vet-objects")
        if not s3_endpoint:
            raise ValueError("an s3:// object store needs s3_endpoint (host:port of S3 or MinIO)")
        return S3ObjectStore(
            bucket,
            prefix=prefix,
            endpoint=s3_endpoint,
            access_key=s3_access_key,
            secret_key=s3_secret_key,
            secure=s3_secure,
            region=s3_region,
            public_endpoint=s3_public_url,
        )
    raise ValueError(f"unknown object store scheme {scheme!r} in {url!r}; use file:// or s3://")


# The backends import the helpers above, so they come last.
from services.common.storage.local import LocalObjectStore  # noqa: E402
from services.common.storage.s3 import S3ObjectStore  # noqa: E402
