"""Citizen sign-in through VNeID.

1. ``GET /login`` (the browser, with an optional ``return_to`` — one of the front end's registered routes,
   ``IDENTITY_SIGN_IN_RETURN_URLS``) sets an HttpOnly, SameSite=Lax cookie that binds the sign-in to this browser
   and sends the browser to the provider (authorisation code + PKCE, ``state``, ``nonce``).
2. ``GET /callback`` accepts the provider's answer only from the browser holding that cookie (login CSRF: a
   callback URL made for one browser signs no other in), checks RFC 9207 ``iss`` when the provider sends it (and
   requires it when the provider says it sends it), exchanges the code, links the citizen to the person with that
   number (created earlier by a school's sync, or now), and redirects to ``return_to?code=…``: a one-time code,
   valid ``IDENTITY_SIGN_IN_CODE_SECONDS``, never the tokens.
3. ``POST /token`` — the front end, from the same browser (the cookie again) — exchanges the code once for the
   tokens, in a response body marked ``no-store``.

Tokens thus never travel in a URL (history, logs, Referer, or a page's script reading ``location``), and a
``return_to`` can never be a package player or anything else outside the registered routes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from services.common.db import Database, utcnow
from services.common.errors import AppError, BadRequest, ServiceUnavailable
from services.identity.accounts.schemas import SessionTokens
from services.identity.audit import service as audit
from services.identity.context import ClientIp, IdentityCtxDep
from services.identity.models import Account, OidcAuthRequest
from services.identity.persons import numbers
from services.identity.persons.schemas import PersonIn
from services.identity.persons.service import create_or_get
from services.identity.vneid.client import OidcClient, SignInFailed, pkce_pair

router = APIRouter(prefix="/v1/auth/vneid", tags=["vneid"])
REQUEST_TTL = timedelta(minutes=10)
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


class InvalidCode(AppError):
    status, title, slug = 400, "Invalid sign-in code", "invalid-sign-in-code"


class CodeExchange(BaseModel):
    code: str = Field(min_length=1, max_length=200, description="the one-time code the callback put in return_to")


def configured(client: OidcClient) -> OidcClient:
    if not client.configured:
        raise ServiceUnavailable("Sign-in with VNeID is not configured on this platform.")
    return client


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def cookie_name(settings: Any) -> str:
    """``__Host-`` on https (host-only, path /, Secure: no sibling host can plant it)."""
    return "__Host-vet_signin" if settings.public_base_url.startswith("https://") else "vet_signin"


def _normalised(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()).geturl()


def allowed_return_to(value: str | None, settings: Any) -> str:
    """One of the registered front-end routes, exactly (a relative value is read against the public base URL);
    without a value, the first of them. Anything else — another path on the platform, a package player, another
    site, a query or fragment added — is refused."""
    allowed = [_normalised(u) for u in settings.sign_in_return_urls]
    if not value:
        return settings.sign_in_return_urls[0]
    absolute = value
    if value.startswith("/") and not value.startswith("//"):
        absolute = settings.public_base_url.rstrip("/") + value
    if _normalised(absolute) in allowed:
        return absolute
    raise BadRequest("return_to must be one of the front end's registered sign-in routes.",
                     errors=[{"field": "return_to", "in": "query", "message": "not a registered route"}])


@router.get("/login", summary="Start citizen sign-in: redirects to VNeID (authorisation code + PKCE)", status_code=302)
async def vneid_login(
    ctx: IdentityCtxDep,
    return_to: Annotated[str | None, Query(max_length=2000, description="a registered front-end route")] = None,
    login_hint: Annotated[str | None, Query(max_length=64, description="passed to the provider as is; never an ID number")] = None,
) -> RedirectResponse:
    settings = ctx.settings
    oidc = configured(ctx.oidc)
    target = allowed_return_to(return_to, settings)
    state, nonce, binding = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(32)
    verifier, challenge = pkce_pair()
    url = await oidc.authorize_url(state=state, nonce=nonce, challenge=challenge, login_hint=login_hint)
    async with ctx.db.session() as session:
        session.add(OidcAuthRequest(state=state, nonce=nonce, code_verifier=verifier, return_to=target,
                                    binding_hash=_digest(binding), expires_at=utcnow() + REQUEST_TTL))
    response = RedirectResponse(url, status_code=302, headers=NO_STORE)
    response.set_cookie(cookie_name(settings), binding, max_age=int(REQUEST_TTL.total_seconds()), path="/", httponly=True,
                        samesite="lax", secure=settings.public_base_url.startswith("https://"))
    return response


def _same_browser(request: Request, settings: Any, pending: OidcAuthRequest) -> bool:
    cookie = request.cookies.get(cookie_name(settings))
    return bool(cookie and pending.binding_hash and hmac.compare_digest(_digest(cookie), pending.binding_hash))


@router.get("/callback", summary="Finish citizen sign-in (the provider redirects here): to return_to with a one-time code",
            status_code=302)
async def vneid_callback(
    request: Request,
    ctx: IdentityCtxDep,
    ip: ClientIp,
    state: Annotated[str, Query(max_length=100)],
    code: Annotated[str | None, Query(max_length=2000)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
    iss: Annotated[str | None, Query(max_length=500, description="RFC 9207: the provider that answered")] = None,
) -> Any:
    db, oidc, settings = ctx.db, configured(ctx.oidc), ctx.settings
    # take the pending request once: a replayed callback finds it used
    async with db.session() as session:
        pending = await session.scalar(select(OidcAuthRequest).where(OidcAuthRequest.state == state))
        usable = pending is not None and pending.used_at is None and pending.expires_at > utcnow()
        if pending is not None:
            pending.used_at = pending.used_at or utcnow()
    try:
        if not usable or pending is None:
            raise SignInFailed("This sign-in is unknown, expired or already finished; start again.")
        if not _same_browser(request, settings, pending):
            raise SignInFailed("This sign-in was started in another browser (or its cookie is gone); start again here.")
        discovery = await oidc.discovery()
        if iss is not None and not hmac.compare_digest(iss, str(discovery.get("issuer", ""))):
            raise SignInFailed("The answer names another provider (iss); start again.")
        if iss is None and discovery.get("authorization_response_iss_parameter_supported") is True:
            raise SignInFailed("The provider's answer carries no iss although the provider sends one; start again.")
        if error or not code:
            raise SignInFailed(f"The provider did not sign the citizen in ({error or 'no code'}).")
        body = await oidc.exchange(code, pending.code_verifier)
        claims = await oidc.validate_id_token(body["id_token"], pending.nonce)
        account_id = await _sign_in(db, settings, claims, ip)
    except AppError as exc:
        async with db.session() as session:
            audit.record(session, actor="vneid", action="login.vneid", target_type="oidc_state", target_id=state[:16],
                         outcome="failure", ip=ip, details={"reason": exc.detail})
        raise
    one_time = secrets.token_urlsafe(32)
    async with db.session() as session:
        row = await session.get(OidcAuthRequest, pending.id)
        assert row is not None
        row.code_hash, row.account_id = _digest(one_time), account_id
        row.code_expires_at = utcnow() + timedelta(seconds=settings.sign_in_code_seconds)
    target = pending.return_to or settings.sign_in_return_urls[0]
    separator = "&" if urlsplit(target).query else "?"
    return RedirectResponse(f"{target}{separator}{urlencode({'code': one_time})}", status_code=302, headers=NO_STORE)


@router.post("/token", response_model=SessionTokens, summary="Exchange the one-time sign-in code for the tokens (same browser)")
async def vneid_token(body: CodeExchange, request: Request, ctx: IdentityCtxDep, ip: ClientIp) -> JSONResponse:
    db, settings = ctx.db, ctx.settings
    now = utcnow()
    async with db.session() as session:
        row = await session.scalar(select(OidcAuthRequest).where(OidcAuthRequest.code_hash == _digest(body.code)))
        problem = None
        if row is None or row.account_id is None:
            problem = "unknown"
        elif row.code_used_at is not None:
            problem = "already used"
        elif row.code_expires_at is None or row.code_expires_at <= now:
            problem = "expired"
        elif not _same_browser(request, settings, row):
            problem = "for another browser"
        if row is not None:
            row.code_used_at = row.code_used_at or now  # single use, even when the rest is wrong
        if problem is None and row is not None:
            account = await session.get(Account, row.account_id)
            if account is None or not account.active:
                problem = "for an account that is disabled"
            else:
                tokens = await ctx.sessions.issue(session, account)
                audit.record(session, actor=f"account:{account.id}", action="login.vneid.code", target_type="account",
                             target_id=str(account.id), ip=ip)
        if problem is not None:
            audit.record(session, actor="vneid", action="login.vneid.code", target_type="oidc_code",
                         target_id=row.state[:16] if row is not None else "unknown", outcome="failure", ip=ip,
                         details={"reason": problem})
    if problem is not None:
        raise InvalidCode(f"The sign-in code is {problem}; sign in again.", error="invalid_grant",
                          errors=[{"field": "code", "message": problem}])
    response = JSONResponse(tokens, headers=NO_STORE)
    response.delete_cookie(cookie_name(settings), path="/", httponly=True, samesite="lax",
                           secure=settings.public_base_url.startswith("https://"))
    return response


async def _sign_in(db: Database, settings: Any, claims: dict[str, Any], ip: str) -> Any:
    """Links the citizen to their person and account; returns the account's id (the tokens come at the exchange)."""
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
    async with db.session() as session:
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
        if not account.active:
            raise SignInFailed("This account is disabled.")
        audit.record(session, actor=f"account:{account.id}", action="login.vneid", target_type="account",
                     target_id=str(account.id), ip=ip, details={"provider_sub": str(claims.get("sub"))[:64]})
        return account.id
