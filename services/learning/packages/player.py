"""The package player's signed links, and which package a caller may play: shared by the library's launch and by
course lessons that launch a cmi5 assignable unit directly."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.errors import NotFound
from services.learning.library import repository as library_repository
from services.learning.library import service as library
from services.learning.models import Blob, LearningObject, LearningObjectVersion, Package


def signature(secret: str, sha: str, expires: int) -> str:
    return hmac.new(secret.encode(), f"player\n{sha}\n{expires}".encode(), hashlib.sha256).hexdigest()[:32]


def base_url(settings: Any, sha: str) -> str:
    """Where the package's files are served until ``player_url_seconds`` from now (a trailing slash): on the
    content origin, never the platform's own."""
    expires = int(time.time()) + settings.player_url_seconds
    return f"{settings.content_service_url}/v1/players/{sha}.{expires}.{signature(settings.secret_key, sha, expires)}/"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(settings: Any) -> str:
    """For every file of a package: a sandbox without ``allow-same-origin`` — the package runs in an opaque origin,
    so even if it were opened on the platform's origin it could read no cookie, storage or page of it — scripts and
    forms allowed (packages need them), framed only by the platform's pages and the package's own, reaching back
    only to the platform's API (xAPI)."""
    api = _origin(settings.public_base_url)
    return ("sandbox allow-scripts allow-forms allow-popups; "
            "default-src 'self' data: blob: 'unsafe-inline' 'unsafe-eval'; "
            f"connect-src 'self' {api}; frame-ancestors 'self' {api}; object-src 'none'; base-uri 'self'; form-action 'self'")


def on_platform_origin(settings: Any, host: str | None) -> bool:
    """True when a player request came to the platform's own host (not the content origin): refused."""
    if not host:
        return False
    public, content = urlsplit(settings.public_base_url), urlsplit(settings.content_origin)
    return host.lower() == public.netloc.lower() and content.netloc.lower() != public.netloc.lower()


async def playable(session: AsyncSession, principal: Principal | None, object_id: uuid.UUID,
                   version: int | None) -> tuple[LearningObject, LearningObjectVersion, Package, Blob]:
    """The object's version this caller may see, with its package: NotFound if it holds none, Forbidden if it is
    marketplace material not acquired."""
    obj = await library.load(session, object_id)
    shown = await library.visible_version(session, principal, obj, version)
    package = await session.get(Package, shown.blob_id) if shown.blob_id else None
    blob = await session.get(Blob, shown.blob_id) if shown.blob_id else None
    if package is None or blob is None:
        raise NotFound("This version is not a SCORM or cmi5 package.")
    await library._ensure_licensed(session, principal, obj, shown)
    return obj, shown, package, blob


async def package_of(session: AsyncSession, object_id: uuid.UUID, version: int) -> Package | None:
    """The package a pinned version holds, if any (no visibility check: what kind of lesson it is)."""
    shown = await library_repository.get_version(session, object_id, version)
    return await session.get(Package, shown.blob_id) if shown is not None and shown.blob_id else None
