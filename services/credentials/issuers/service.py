"""Issuers: one per institution of identity's registry, each a did:web DID with Ed25519 keys (sealed at rest).
Rotation retires the active key (it stays in the DID document, so what it signed keeps verifying) and makes a
new one."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from datetime import date
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.db import utcnow
from services.common.errors import NotFound, ValidationFailed
from services.common.httpcache import invalidate_on_commit
from services.common.identity_client import IdentityError
from services.credentials.context import CredentialsContext
from services.credentials.issuers import repository
from services.credentials.issuers.schemas import IssuerKeyRead, IssuerRead
from services.credentials.models import Issuer, IssuerKey
from services.credentials.proofs.contexts import DID_V1, MULTIKEY_V1
from services.credentials.proofs.keys import generate_key
from services.credentials.proofs.multibase import ed25519_multikey

#: a term for marking, in the DID document, the one verification method that signs new credentials
DID_EXTENSION_CONTEXT = {
    "vet": "https://vet.gov.vn/ns/credentials#",
    "currentSigningKey": {"@id": "vet:currentSigningKey", "@type": "@id"},
}


def did_for(public_base_url: str, code: str) -> str:
    """did:web for ``<public base>/issuers/<code>/did.json`` (the port's colon percent-encoded, path as ``:``)."""
    parts = urlsplit(public_base_url)
    host = quote(parts.netloc, safe="")
    path = [quote(p, safe="") for p in parts.path.strip("/").split("/") if p]
    return ":".join(["did:web", host, *path, "issuers", quote(code, safe="")])


def did_document_url(ctx: CredentialsContext, code: str) -> str:
    return f"{ctx.public_base}/issuers/{code}/did.json"


def verification_method(issuer: Issuer, key: IssuerKey) -> str:
    return f"{issuer.did}#{key.key_id}"


def did_document(issuer: Issuer, keys: list[IssuerKey]) -> dict[str, Any]:
    methods = [
        {"id": verification_method(issuer, k), "type": "Multikey", "controller": issuer.did,
         "publicKeyMultibase": ed25519_multikey(k.public_key)}
        for k in keys
    ]
    active = [verification_method(issuer, k) for k in keys if k.status == "active"]
    document: dict[str, Any] = {
        "@context": [DID_V1, MULTIKEY_V1, DID_EXTENSION_CONTEXT],
        "id": issuer.did,
        "verificationMethod": methods,
        # every key, retired ones included: a credential is checked against the key that signed it
        "assertionMethod": [m["id"] for m in methods],
    }
    if active:
        document["currentSigningKey"] = active[0]
    return document


def to_read(ctx: CredentialsContext, issuer: Issuer, keys: list[IssuerKey]) -> IssuerRead:
    return IssuerRead(
        id=issuer.id,
        institution_code=issuer.institution_code,
        did=issuer.did,
        did_document_url=did_document_url(ctx, issuer.institution_code),
        name=issuer.name,
        province_code=issuer.province_code,
        institution_status=issuer.institution_status,
        created_at=issuer.created_at,
        keys=[
            IssuerKeyRead(
                id=verification_method(issuer, k), key_id=k.key_id, public_key_multibase=ed25519_multikey(k.public_key),
                status=k.status, created_at=k.created_at, retired_at=k.retired_at,  # type: ignore[arg-type]
            )
            for k in keys
        ],
    )


async def registry_entry(ctx: CredentialsContext, code: str, *, max_age: float | None = None) -> dict[str, Any] | None:
    """The institution as identity's public registry has it; None if it is not registered. Identity unavailable:
    :class:`~services.common.identity_client.IdentityUnavailable` (a 503 with ``Retry-After``)."""
    assert ctx.identity is not None, "the app's IdentityClient is set on the context at start-up"
    return await ctx.identity.institution(code, max_age=max_age)


async def refresh_ahead(ctx: CredentialsContext, code: str) -> None:
    """If institution ``code``'s registry refresh is due, asks identity now, before a write transaction opens, and
    keeps the answer for :func:`registry_refresh` inside it (taken once, within :data:`AHEAD_SECONDS`). A failure is
    left to it."""
    if registry_refresh_due(ctx, code):
        with contextlib.suppress(IdentityError):
            ctx.registry_read_ahead[code] = (time.monotonic(), (await registry_entry(ctx, code, max_age=0),))


async def registry_ahead(ctx: CredentialsContext, codes: Iterable[str]) -> None:
    """Asks identity now, before a write transaction opens, for the institutions among ``codes`` that have no issuer
    this process has seen, so that :func:`ensure`'s lookup inside the transaction is answered from the identity
    client's cache rather than by a call while the transaction holds its locks. A failure is left for ``ensure`` to
    meet (and raise) only if it needs the entry: an existing issuer needs none."""
    for code in codes:
        if code in ctx.issuer_codes or code == ctx.settings.platform_issuer_code:
            continue
        with contextlib.suppress(IdentityError):
            await registry_entry(ctx, code)


def _apply_registry(issuer: Issuer, entry: dict[str, Any]) -> None:
    issuer.name = entry["name"]
    issuer.province_code = entry.get("province_code")
    issuer.institution_type = entry.get("type")
    issuer.institution_status = entry.get("status") or "active"
    issuer.closed_on = entry.get("closed_on")


async def add_key(session: AsyncSession, ctx: CredentialsContext, issuer: Issuer) -> IssuerKey:
    number = await repository.key_count(session, issuer.id) + 1
    key_id = f"key-{number}"
    new = generate_key(ctx.keys.protector, issuer.institution_code, key_id)
    key = IssuerKey(issuer_id=issuer.id, key_id=key_id, public_key=new.public_key, sealed_private_key=new.sealed_private_key,
                    key_ref=new.key_ref, status="active")
    session.add(key)
    await session.flush()
    # the DID document lists every key: its copies go when this commits
    invalidate_on_commit(session, ctx.public_cache, f"/issuers/{issuer.institution_code}/")
    return key


async def ensure(session: AsyncSession, ctx: CredentialsContext, code: str, *, field: str = "institution_code") -> Issuer:
    """The issuer of institution ``code``, set up on first use from identity's registry: DID, first key, and the
    revocation and suspension lists. Refused for an institution the registry does not know or that is closed."""
    asked: tuple[dict[str, Any] | None] | IdentityError | None = None
    if not session.in_transaction() and code not in ctx.issuer_codes and code != ctx.settings.platform_issuer_code:
        try:  # identity asked before the transaction opens (needed only if there is no issuer yet)
            asked = (await registry_entry(ctx, code),)
        except IdentityError as exc:
            asked = exc
    issuer = await repository.by_code(session, code)
    if issuer is not None:
        ctx.issuer_codes.add(code)
        return issuer
    if isinstance(asked, IdentityError):
        raise asked
    if code == ctx.settings.platform_issuer_code:
        entry: dict[str, Any] | None = {"name": ctx.settings.platform_issuer_name, "status": "active"}
    elif asked is not None:
        entry = asked[0]
    else:
        entry = await registry_entry(ctx, code)
    if entry is None:
        raise ValidationFailed(f"{code} is not in the institution registry.", errors=[{"field": field, "message": "unknown institution"}])
    if entry.get("status") not in (None, "active"):
        raise ValidationFailed(f"Institution {code} is {entry.get('status')}: it issues no new credentials.",
                               errors=[{"field": field, "message": f"institution is {entry.get('status')}"}])
    from services.credentials.status import service as status_service

    try:
        async with session.begin_nested():
            issuer = Issuer(institution_code=code, did=did_for(ctx.settings.public_base_url, code), name=entry["name"])
            _apply_registry(issuer, entry)
            session.add(issuer)
            await session.flush()
            key = await add_key(session, ctx, issuer)
            for purpose in ("revocation", "suspension"):
                await status_service.open_list(session, ctx, issuer, key, purpose, number=1)
    except IntegrityError:
        # another request set it up at the same moment
        issuer = await repository.by_code(session, code)
        if issuer is None:
            raise
    return issuer


_registry_checked: dict[str, float] = {}
#: how long an answer :func:`refresh_ahead` read waits for the refresh it was read for
AHEAD_SECONDS = 60.0


def registry_refresh_due(ctx: CredentialsContext, code: str) -> bool:
    """Is the registry's view of this institution older than the configured interval?"""
    if code == ctx.settings.platform_issuer_code:
        return False
    return time.monotonic() - _registry_checked.get(code, 0.0) >= ctx.settings.registry_cache_seconds


class InstitutionState(Protocol):
    """An issuer's registry state as :func:`active_on` reads it (read only: an ORM row or a plain ``IssuerRow``)."""

    @property
    def institution_status(self) -> str: ...

    @property
    def closed_on(self) -> str | None: ...


async def registry_refresh(ctx: CredentialsContext, code: str) -> tuple[dict[str, Any] | None] | None:
    """Identity's entry for institution ``code`` if the last look is older than the configured interval, asked
    before any write transaction opens: ``(entry,)`` (``(None,)``: no longer registered), or None when nothing is to
    change (not due, or identity could not answer: what is known is kept)."""
    if not registry_refresh_due(ctx, code):
        return None
    ahead = ctx.registry_read_ahead.pop(code, None)
    if ahead is not None and time.monotonic() - ahead[0] < AHEAD_SECONDS:
        refreshed = ahead[1]  # read by refresh_ahead a moment ago
    else:
        try:
            refreshed = (await registry_entry(ctx, code, max_age=0),)  # due: identity asked, not a kept copy
        except IdentityError:  # unavailable, or an answer it cannot use (logged by the client): keep what is known
            return None
    _registry_checked[code] = time.monotonic()
    return refreshed


def apply_refresh(issuer: Issuer, refreshed: tuple[dict[str, Any] | None]) -> None:
    """What :func:`registry_refresh` found, written to the issuer (in the write transaction opened after it)."""
    (entry,) = refreshed
    if entry is None:
        issuer.institution_status = "unregistered"
    else:
        _apply_registry(issuer, entry)


def active_on(issuer: InstitutionState, day: date) -> bool:
    """Was the institution able to issue on ``day``? Active, or closed/merged only after that day."""
    if issuer.institution_status == "active":
        return True
    if issuer.institution_status in ("closed", "merged") and issuer.closed_on:
        return day < date.fromisoformat(issuer.closed_on)
    return False


async def rotate_key(session: AsyncSession, ctx: CredentialsContext, issuer: Issuer, principal: Principal) -> IssuerKey:
    current = await repository.active_key(session, issuer.id)
    if current is not None:
        current.status = "retired"
        current.retired_at = utcnow()
        await session.flush()
    return await add_key(session, ctx, issuer)


async def get(session: AsyncSession, code: str) -> Issuer:
    issuer = await repository.by_code(session, code)
    if issuer is None:
        raise NotFound(f"Institution {code} has no issuer yet (it is set up with its first credential).")
    return issuer
