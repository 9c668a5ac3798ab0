"""Share links: a holder lets anyone view and verify one credential through an unguessable link until it expires
(at most 90 days) or the holder revokes it. The token is 256 random bits; only its keyed hash is stored, so the
database alone does not give working links. Creation and revocation are recorded on the link, every use in the
verification log (channel ``share``)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.db import utcnow
from services.common.errors import AppError, Forbidden, NotFound
from services.common.permissions import person_id_of
from services.credentials.context import CredentialsContext
from services.credentials.issuing import repository as credentials_repo
from services.credentials.models import Credential, ShareLink
from services.credentials.sharing import repository
from services.credentials.sharing.schemas import ShareLinkCreate, ShareLinkCreated, ShareLinkRead


class LinkGone(AppError):
    """The share link expired or was revoked by the holder (410)."""

    status, title, slug = 410, "Share link no longer valid", "share-link-gone"


def token_hash(ctx: CredentialsContext, token: str) -> str:
    return hmac.new(ctx.settings.secret_key.encode(), b"share-link:" + token.encode(), hashlib.sha256).hexdigest()


def share_url(ctx: CredentialsContext, token: str) -> str:
    return f"{ctx.public_base}/api/credentials/v1/shared/{token}"


def state_of(link: ShareLink) -> str:
    if link.revoked_at is not None:
        return "revoked"
    return "expired" if link.expires_at <= utcnow() else "active"


def to_read(link: ShareLink) -> ShareLinkRead:
    return ShareLinkRead(id=link.id, credential_id=link.credential_id, label=link.label, created_at=link.created_at,
                         expires_at=link.expires_at, revoked_at=link.revoked_at, state=state_of(link), views=link.views,
                         last_viewed_at=link.last_viewed_at)


async def own_credential(session: AsyncSession, principal: Principal, credential_id: uuid.UUID) -> Credential:
    """The credential, if the caller is its holder (the same 404 for "not there" and "not yours")."""
    row = await credentials_repo.by_id(session, credential_id)
    person = person_id_of(principal)
    if row is None or not person or row.person_id is None or str(row.person_id) != person:
        if row is not None and person is None:
            raise Forbidden("Only the holder, signed in as a learner, shares a credential.")
        raise NotFound(f"No credential {credential_id}.")
    return row


async def create(session: AsyncSession, ctx: CredentialsContext, principal: Principal, credential_id: uuid.UUID,
                 body: ShareLinkCreate) -> ShareLinkCreated:
    row = await own_credential(session, principal, credential_id)
    days = min(body.expires_in_days, ctx.settings.share_link_max_days)
    token = secrets.token_urlsafe(32)
    link = ShareLink(id=uuid.uuid4(), credential_id=row.id, token_hash=token_hash(ctx, token), label=body.label,
                     created_by=principal.sub, expires_at=utcnow() + timedelta(days=days), views=0)
    session.add(link)
    await session.flush()
    return ShareLinkCreated(**to_read(link).model_dump(), url=share_url(ctx, token))


async def list_for(session: AsyncSession, principal: Principal, credential_id: uuid.UUID) -> list[ShareLinkRead]:
    row = await own_credential(session, principal, credential_id)
    return [to_read(link) for link in await repository.of_credential(session, row.id)]


async def revoke(session: AsyncSession, principal: Principal, credential_id: uuid.UUID, link_id: uuid.UUID) -> ShareLinkRead:
    row = await own_credential(session, principal, credential_id)
    link = await repository.by_id(session, link_id, lock=True)
    if link is None or link.credential_id != row.id:
        raise NotFound(f"No share link {link_id}.")
    if link.revoked_at is None:  # idempotent
        link.revoked_at, link.revoked_by = utcnow(), principal.sub
        await session.flush()
    return to_read(link)


async def open_link(session: AsyncSession, ctx: CredentialsContext, token: str) -> tuple[ShareLink, Credential]:
    """The link and its credential, counting the view; NotFound for an unknown token, LinkGone once it expired or
    was revoked."""
    link = await repository.by_token_hash(session, token_hash(ctx, token)) if 20 <= len(token) <= 100 else None
    if link is None:
        raise NotFound("No such share link.")
    state = state_of(link)
    if state != "active":
        raise LinkGone(f"This share link {'was revoked by the holder' if state == 'revoked' else 'has expired'}.", state=state)
    row = await credentials_repo.by_id(session, link.credential_id)
    assert row is not None  # foreign key
    link.views += 1
    link.last_viewed_at = utcnow()
    return link, row
