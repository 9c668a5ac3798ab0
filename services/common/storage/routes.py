"""The folder store's download route: ``GET {prefix}/{key}?expires=…&sig=…[&filename=…]``.

Links come from :meth:`LocalObjectStore.download_url`. The route checks the signature and expiry (403
problem+json otherwise), then streams the file with single-range support (206 + ``Content-Range``, 416 when the
range starts past the end). Several ranges in one request are answered with the whole object, as RFC 9110
allows. Stored files are user content, so they are served with ``nosniff`` and a sandboxing CSP.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from email.utils import format_datetime

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from services.common.errors import Forbidden
from services.common.storage import RangeNotSatisfiable, content_disposition
from services.common.storage.local import LocalObjectStore

__all__ = ["objects_router", "parse_range"]

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def objects_router(
    get_store: Callable[[Request], LocalObjectStore], prefix: str = "/v1/objects"
) -> APIRouter:
    """Router serving signed downloads from the store ``get_store(request)`` returns. ``prefix`` must match
    the store's ``route_prefix``."""
    router = APIRouter(tags=["objects"])
    prefix = "/" + prefix.strip("/")

    @router.get(
        prefix + "/{key:path}",
        summary="Download a stored object through a signed link",
        response_class=StreamingResponse,
        responses={
            206: {"description": "The requested byte range"},
            403: {"description": "The link is not valid or has expired"},
            404: {"description": "No object with this key"},
            416: {"description": "The range starts past the end of the object"},
        },
    )
    async def download_object(
        request: Request,
        key: str,
        expires: str | None = None,
        sig: str | None = None,
        filename: str | None = None,
    ) -> Response:
        store = get_store(request)
        if expires is None or sig is None or not (expires.isascii() and expires.isdigit()):
            raise Forbidden("the download link is not valid")
        store.verify_signature(key, int(expires), sig, filename=filename)
        info = await store.stat(key)

        etag = f'"{info.etag}"'
        headers = {
            "Accept-Ranges": "bytes",
            "ETag": etag,
            "Cache-Control": "private",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
        }
        if info.last_modified is not None:
            headers["Last-Modified"] = format_datetime(info.last_modified, usegmt=True)
        if filename is not None:
            headers["Content-Disposition"] = content_disposition(filename)

        byte_range = parse_range(request.headers.get("range"), info.size)
        if_range = request.headers.get("if-range")
        if byte_range is not None and if_range is not None and if_range not in (etag, headers.get("Last-Modified")):
            byte_range = None  # the client's copy is stale: send it all

        media_type = info.content_type or "application/octet-stream"
        if byte_range is None:
            headers["Content-Length"] = str(info.size)
            return StreamingResponse(store.get(key), headers=headers, media_type=media_type)
        first, last = byte_range
        headers["Content-Length"] = str(last - first + 1)
        headers["Content-Range"] = f"bytes {first}-{last}/{info.size}"
        return StreamingResponse(
            store.get(key, start=first, end=last), status_code=206, headers=headers, media_type=media_type
        )

    return router


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive ``(first, last)`` byte range a ``Range`` header asks of an object of ``size`` bytes.

    None means "send everything" (no header, another unit, several ranges, or a malformed header, which RFC 9110
    says to ignore); RangeNotSatisfiable (416) when the range lies past the end.
    """
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    start, end = match.groups()
    if not start and not end:
        return None
    if not start:  # suffix: the last N bytes
        suffix = int(end)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(size)
        return max(0, size - suffix), size - 1
    first = int(start)
    if end and int(end) < first:
        return None
    if first >= size:
        raise _unsatisfiable(size)
    return first, min(int(end), size - 1) if end else size - 1


def _unsatisfiable(size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(
        f"the object has {size} bytes", headers={"Content-Range": f"bytes */{size}"}
    )
