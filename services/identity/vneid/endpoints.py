"""Citizen sign-in through VNeID: ``/login`` sends the browser to the provider, ``/callback`` finishes, links the
citizen to the person with that number (created earlier by a school's sync, or now) and returns our tokens."""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode, urlparse

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy import select

from services.common.db import utcnow
from services.common.errors import AppError, BadRequest, ServiceUnavailable
from services.identity.accounts.endpoints import client_ip
from services.identity.audit import service as audit
from services.identity.models import Account, OidcAuthRequest
from services.identity.persons import numbers
from services.identity.persons.schemas import PersonIn
from services.identity.persons.service import create_or_get
from services.identity.vneid.client import OidcClient, SignInFailed, pkce_pair

router = APIRouter(prefix="/v1/auth/vneid", tags=["vneid"])
REQUEST_TTL = timedelta(minutes=10)


def oidc_of(request: Request) -> OidcClient:
    client: OidcClient = request.app.state.oidc
    if not client.configured:
        raise ServiceUnavailable("Sign-in with VNeID is not configured on this platform.")
    return client


def _safe_return_to(value: str | None, request: Request) -> str | None:
    """Only same-origin return addresses (relative, or on the platform's public base URL): no open redirect."""
    if not value:
        return None
    base = urlparse(request.app.state.settings.public_base_url)
    target = urlparse(value)
    if (not target.scheme and not target.netloc and value.startswith("/") and not value.startswith("//")) or (
        target.scheme == base.scheme and target.netloc == base.netloc
    ):
        return value
    raise BadRequest("return_to must be on the platform.", errors=[{"field": "return_to", "in": "query", "message": "not allowed"}])


@router.get("/login", summary="Start citizen sign-in: redirects to VNeID (authorisation code + PKCE)", status_code=302)
async def vneid_login(
    request: Request,
    return_to: Annotated[str | None, Query(max_length=2000)] = None,
    login_hint: Annotated[str | None, Query(max_length=64, description="passed to the provider as is; never an ID number")] = None,
) -> RedirectResponse:
    oidc = oidc_of(request)
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    verifier, challenge = pkce_pair()
    url = await oidc.authorize_url(state=state, nonce=nonce, challenge=challenge, login_hint=login_hint)
    async with request.app.state.db.session() as session:
        session.add(OidcAuthRequest(state=state, nonce=nonce, code_verifier=verifier,
                                    return_to=_safe_return_to(return_to, request), expires_at=utcnow() + REQUEST_TTL))
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})


@router.get("/callback", summary="Finish citizen sign-in (the provider redirects here)")
async def vneid_callback(
    request: Request,
    state: Annotated[str, Query(max_length=100)],
    code: Annotated[str | None, Query(max_length=2000)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> Any:
    db, oidc, ip = request.app.state.db, oidc_of(request), client_ip(request)
    # take the pending request once: a replayed callback finds it used
    async with db.session() as session:
        pending = await session.scalar(select(OidcAuthRequest).where(OidcAuthRequest.state == state))
        usable = pending is not None and pending.used_at is None and pending.expires_at > utcnow()
        if pending is not None:
            pending.used_at = pending.used_at or utcnow()
    try:
        if not usable or pending is None:
            raise SignInFailed("This sign-in is unknown, expired or already finished; start again.")
        if error or not code:
            raise SignInFailed(f"The provider did not sign the citizen in ({error or 'no code'}).")
        body = await oidc.exchange(code, pending.code_verifier)
        claims = await oidc.validate_id_token(body["id_token"], pending.nonce)
        tokens = await _sign_in(request, claims, ip)
    except AppError as exc:
        async with db.session() as session:
            audit.record(session, actor="vneid", action="login.vneid", target_type="oidc_state", target_id=state[:16],
                         outcome="failure", ip=ip, details={"reason": exc.detail})
        raise
    if pending.return_to:
        fragment = urlencode({k: tokens[k] for k in ("access_token", "refresh_token", "expires_in", "token_type")})
        return RedirectResponse(f"{pending.return_to}#{fragment}", status_code=302, headers={"Cache-Control": "no-store"})
    return JSONResponse(tokens, headers={"Cache-Control": "no-store"})


async def _sign_in(request: Request, claims: dict[str, Any], ip: str) -> dict[str, Any]:
    settings = request.app.state.settings
    number = str(claims.get(settings.vneid_id_number_claim, ""))
    if numbers.check(number):
        raise SignInFailed(f"The ID token's {settings.vneid_id_number_claim} claim is not a valid personal identification number.")
    birth = claims.get(settings.vneid_birthdate_claim)
    gender = claims.get(settings.vneid_gender_claim)
    incoming = PersonIn(
        id_number=number,
        full_name=str(claims.get(settings.vneid_name_claim) or "Công dân"),
        date_of_birth=date.fromisoformat(birth) if isinstance(birth, str) and len(birth) == 10 else None,
        gender=gender if gender in ("male", "female") else None,
    )
    async with request.app.state.db.session() as session:
        from services.identity.persons import repository as persons

        person = await persons.by_number(session, number)
        if person is None:
            person, _ = await create_or_get(session, incoming)
        account = await session.scalar(select(Account).where(Account.person_id == person.id))
        if account is None:
            account = Account(username=f"vneid.{person.id.hex[:16]}", full_name=person.full_name, password_hash=None,
                              person_id=person.id, active=True)
            session.add(account)
            await session.flush()
            audit.record(session, actor="vneid", action="account.linked", target_type="account", target_id=str(account.id),
                         details={"person_id": str(person.id), "id_number": numbers.mask(number)})
        tokens = await request.app.state.session_service.issue(session, account)
        audit.record(session, actor=f"account:{account.id}", action="login.vneid", target_type="account",
                     target_id=str(account.id), ip=ip, details={"provider_sub": str(claims.get("sub"))[:64]})
        return tokens
