"""Machine clients registered by administrators: a client gets only roles its creator may grant and scopes its
creator holds (``accounts/grants.py``), and whoever manages a client — rotates its secret, changes it — must have
been able to create it as it stands. Every change is audited, every refusal too (``grants.refuse``). The secret
is kept as a keyed hash (``TokenService.hash_secret``) and shown once."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.db import Database
from services.common.errors import NotFound, ValidationFailed
from services.identity.accounts import grants
from services.identity.audit import service as audit
from services.identity.clients.schemas import ClientCreate, ClientCreated, ClientRead, ClientUpdate
from services.identity.models import ApiClient
from services.identity.tokens import repository as tokens_repository
from services.identity.tokens.service import TokenService


def validate_scopes(scopes: list[str]) -> list[str]:
    bad = [s for s in scopes if not s or " " in s or ":" not in s]
    if bad:
        raise ValidationFailed("Scopes look like '<service>:<action>'.", errors=[{"field": "scopes", "message": f"invalid: {bad}"}])
    return scopes


async def register(session: AsyncSession, db: Database, tokens: TokenService, principal: Principal,
                   body: ClientCreate) -> ClientCreated:
    scopes = validate_scopes(body.scopes)
    roles = grants.client_roles(body.roles, body.institution_code)
    reason = next((r for role, at in roles if (r := grants.why_not(principal, role, at))), None)
    missing = grants.scopes_not_held(principal, scopes)
    if missing and not reason:
        reason = f"You may not give a client scopes you do not hold: {' '.join(missing)}."
    if reason:
        await grants.refuse(db, principal, reason, action="client.created", target_type="client",
                            target_id=body.client_id, details={"scopes": scopes, "roles": body.roles,
                                                               "institution_code": body.institution_code})
    client, secret = await tokens.create_client(
        session,
        client_id=body.client_id,
        name=body.name,
        scopes=scopes,
        institution_code=body.institution_code,
        roles=body.roles,
    )
    audit.record(session, actor=principal, action="client.created", target_type="client", target_id=client.client_id,
                 details={"scopes": client.scopes, "institution_code": client.institution_code, "roles": client.roles})
    return ClientCreated(**ClientRead.model_validate(client).model_dump(), client_secret=secret)


async def _client_or_404(session: AsyncSession, client_id: str) -> ApiClient:
    client = await tokens_repository.client_by_id(session, client_id)
    if client is None:
        raise NotFound(f"No client {client_id}.")
    return client


async def _manageable(session: AsyncSession, db: Database, principal: Principal, client_id: str, action: str,
                      details: dict[str, Any]) -> ApiClient:
    """The client, if the caller could have created it as it stands (its roles grantable by the caller, its scopes
    held by the caller): rotating the secret of a more powerful client, or changing it, would be an escalation."""
    client = await _client_or_404(session, client_id)
    try:
        roles = grants.client_roles(client.roles or [], client.institution_code)
    except ValidationFailed:  # a role stored before roles were checked: only a platform admin manages that client
        roles = [("platform_admin", "national")]
    reason = next((r for role, at in roles if (r := grants.why_not(principal, role, at))), None)
    missing = grants.scopes_not_held(principal, client.scopes.split())
    if missing and not reason:
        reason = f"This client holds scopes you do not hold: {' '.join(missing)}."
    if reason:
        await grants.refuse(db, principal, reason, action=action, target_type="client", target_id=client_id,
                            details=details, request_session=session)
    return client


async def rotate_secret(session: AsyncSession, db: Database, tokens: TokenService, principal: Principal,
                        client_id: str) -> ClientCreated:
    """A new secret; the old one stops working."""
    client = await _manageable(session, db, principal, client_id, "client.secret_rotated", {})
    secret = secrets.token_urlsafe(32)
    client.secret_hash = tokens.hash_secret(secret)
    audit.record(session, actor=principal, action="client.secret_rotated", target_type="client", target_id=client_id)
    await session.flush()
    return ClientCreated(**ClientRead.model_validate(client).model_dump(), client_secret=secret)


async def update(session: AsyncSession, db: Database, principal: Principal, client_id: str, body: ClientUpdate) -> ApiClient:
    """Enable or disable the client, rename it, or change its scopes (never one's own client's scopes)."""
    changes = body.model_dump(exclude_unset=True)
    if changes.get("scopes") is not None:
        scopes = validate_scopes(changes["scopes"])
        missing = grants.scopes_not_held(principal, scopes)
        reason = ("Nobody changes their own client's scopes; ask an administrator." if principal.sub == f"client:{client_id}"
                  else f"You may not give a client scopes you do not hold: {' '.join(missing)}." if missing else None)
        if reason:
            await grants.refuse(db, principal, reason, action="client.updated", target_type="client",
                                target_id=client_id, details={"scopes": scopes})
        changes["scopes"] = " ".join(sorted(set(scopes)))
    client = await _manageable(session, db, principal, client_id, "client.updated", {k: v for k, v in changes.items()})
    before = {k: getattr(client, k) for k in changes}
    for k, v in changes.items():
        if v is None:
            raise ValidationFailed(f"{k} cannot be null.", errors=[{"field": k, "message": "cannot be null"}])
        setattr(client, k, v)
    audit.record(session, actor=principal, action="client.updated", target_type="client", target_id=client_id,
                 details={k: {"old": before[k], "new": getattr(client, k)} for k in changes})
    await session.flush()
    return client
