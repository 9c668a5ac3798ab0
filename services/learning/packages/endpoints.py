"""Launching SCORM / cmi5 packages: a signed player base URL under which the package's files are served (with
Range), so relative links inside the package keep working and a browser frame needs no bearer token.

Package content is author-supplied HTML and script: the links are on the content origin (``content_origin``, a
host name of its own in front of the gateway), a request for them on the platform's own host is refused, and
every file goes out with a sandboxing Content-Security-Policy (``player.content_security_policy``)."""

from __future__ import annotations

import hmac
import mimetypes
import re
import time
import uuid
from email.utils import format_datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, BackgroundTasks, Query, Request
from pydantic import BaseModel
from starlette.responses import Response, StreamingResponse

from services.common.auth import OptionalPrincipal
from services.common.db import SessionDep
from services.common.errors import Forbidden, NotFound
from services.common.storage import validate_key
from services.common.storage.routes import parse_range
from services.learning.context import CtxDep
from services.learning.library import service as library
from services.learning.packages import player

router = APIRouter(tags=["packages"])
_TOKEN = re.compile(r"([0-9a-f]{64})\.(\d{1,12})\.([0-9a-f]{32})")


def player_security_headers(public_base_url: str) -> dict[str, str]:
    """Headers on every file of a package: only the platform's own pages may frame it (clickjacking), no plugins,
    no ``<base>`` elsewhere, no MIME sniffing, and no Referer carrying the signed player link to other sites."""
    parts = urlsplit(public_base_url)
    origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
    return {
        "Content-Security-Policy": f"frame-ancestors 'self' {origin}".rstrip() + "; object-src 'none'; base-uri 'self'",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


class LaunchRead(BaseModel):
    kind: str
    version: int
    launch_path: str
    #: open this in the player frame; the package's files live under ``player_base``
    launch_url: str
    player_base: str
    expires_in: int
    manifest: dict[str, Any]


@router.get("/v1/learning-objects/{object_id}/launch", response_model=LaunchRead, summary="Launch a SCORM / cmi5 package in a player")
async def launch(object_id: uuid.UUID, ctx: CtxDep, session: SessionDep, principal: OptionalPrincipal, tasks: BackgroundTasks,
                 version: Annotated[int | None, Query(ge=1)] = None) -> LaunchRead:
    obj, shown, package, blob = await player.playable(session, principal, object_id, version)
    settings = ctx.settings
    base = player.base_url(settings, blob.sha256)
    tasks.add_task(library.record_usage, ctx, obj.id, principal, "launch")
    return LaunchRead(kind=package.kind, version=shown.number, launch_path=package.launch_path, launch_url=base + package.launch_path,
                      player_base=base, expires_in=settings.player_url_seconds, manifest=package.manifest)


@router.get("/v1/players/{token}/{path:path}", summary="A file of a launched package (signed, expiring; Range supported)",
            response_class=StreamingResponse)
async def player_file(token: str, path: str, request: Request, ctx: CtxDep) -> Response:
    match = _TOKEN.fullmatch(token)
    settings = ctx.settings
    if match is None:
        raise Forbidden("The player link is not valid.")
    sha, expires, sig = match.group(1), int(match.group(2)), match.group(3)
    if not hmac.compare_digest(sig, player.signature(settings.secret_key, sha, expires)):
        raise Forbidden("The player link is not valid.")
    if time.time() > expires:
        raise Forbidden("The player link has expired; launch the package again.")
    host = request.headers.get("x-forwarded-host") or request.headers.get("host")
    if player.on_platform_origin(settings, host):
        raise NotFound("Packages are served from the content origin only.")
    key = f"learning/packages/{sha}/{path}"
    try:
        validate_key(key)
    except Exception:
        raise NotFound("No such file in the package.") from None
    store = ctx.store
    info = await store.stat(key)
    media_type = mimetypes.guess_type(path)[0] or info.content_type or "application/octet-stream"
    headers = {"Accept-Ranges": "bytes", "ETag": f'"{info.etag}"', "Cache-Control": "private, max-age=3600",
               **player_security_headers(settings.public_base_url),
               # the sandbox and the rest of the package policy (player.py) in one header, the framing rule included
               "Content-Security-Policy": player.content_security_policy(settings)}
    if info.last_modified is not None:
        headers["Last-Modified"] = format_datetime(info.last_modified, usegmt=True)
    byte_range = parse_range(request.headers.get("range"), info.size)
    if byte_range is None:
        headers["Content-Length"] = str(info.size)
        return StreamingResponse(store.get(key), headers=headers, media_type=media_type)
    first, last = byte_range
    headers["Content-Length"] = str(last - first + 1)
    headers["Content-Range"] = f"bytes {first}-{last}/{info.size}"
    return StreamingResponse(store.get(key, start=first, end=last), status_code=206, headers=headers, media_type=media_type)
