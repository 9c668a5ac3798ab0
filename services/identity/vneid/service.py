"""Citizen sign-in through VNeID, the rules (the HTTP flow is described in ``endpoints.py``): a pending sign-in
bound to one browser, taken once; the provider's answer checked; the citizen linked to the person with their
number and to an account; a one-time code for that account, exchanged once from the same browser. Every outcome
is audited, failures in a transaction of their own."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from services.common.db import Database, utcnow
from services.common.errors import AppError, BadRequest, ServiceUnavailable
from services.identity.accounts import repository as accounts
from services.identity.accounts.sessions import SessionService
from services.identity.audit import service as audit
from services.identity.config import IdentitySettings
from services.identity.models import Account, OidcAuthRequest
from services.identity.persons import numbers
from services.identity.persons import repository as persons
from services.identity.persons.schemas import PersonIn
from services.identity.persons.service import create_or_get
from services.identity.vneid import repository
from services.identity.vneid.client import OidcClient, SignInFailed, pkce_pair

#: how long a started sign-in waits for the provider's answer (and the browser's binding cookie lives)
REQUEST_TTL = timedelta(minutes=10)


class InvalidCode(AppError):
    status, title, slug = 400, "Invalid sign-in code", "invalid-sign-in-code"


def configured(client: OidcClient) -> OidcClient:
    """The client, when this platform has a provider (503 otherwise)."""
    if not client.configured:
        raise ServiceUnavailable("Sign-in with VNeID is not configured on this platform.")
    return client


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _normalised(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()).geturl()


def allowed_return_to(value: str | None, settings: IdentitySettings) -> str:
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


def _same_browser(cookie: str | None, pending: OidcAuthRequest) -> bool:
    return bool(cookie and pending.binding_hash and hmac.compare_digest(_digest(cookie), pending.binding_hash))


async def start(db: Database, oidc: OidcClient, settings: IdentitySettings, return_to: str | None,
                login_hint: str | None) -> tuple[str, str]:
    """``(the provider's authorisation URL, the browser's binding secret)``: a pending sign-in (state, nonce, PKCE
    verifier, where to return) that only the browser holding the binding may finish."""
    oidc = configured(oidc)
    target = allowed_return_to(return_to, settings)
    state, nonce, binding = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(32)
    verifier, challenge = pkce_pair()
    url = await oidc.authorize_url(state=state, nonce=nonce, challenge=challenge, login_hint=login_hint)
    async with db.session() as session:
        session.add(OidcAuthRequest(state=state, nonce=nonce, code_verifier=verifier, return_to=target,
                                    binding_hash=_digest(binding), expires_at=utcnow() + REQUEST_TTL))
    return url, binding


async def finish(db: Database, oidc: OidcClient, settings: IdentitySettings, *, state: str, code: str | None,
                 error: str | None, iss: str | None, cookie: str | None, ip: str) -> str:
    """The provider's answer for ``state``, from the browser with ``cookie``: the URL to send the browser to —
    its ``return_to`` with a one-time code for the citizen's account. Failures are audited, then raised."""
    oidc = configured(oidc)
    # take the pending request once: a replayed callback finds it used
    async with db.session() as session:
        pending = await repository.by_state(session, state)
        usable = pending is not None and pending.used_at is None and pending.expires_at > utcnow()
        if pending is not None:
            pending.used_at = pending.used_at or utcnow()
    try:
        if not usable or pending is None:
            raise SignInFailed("This sign-in is unknown, expired or already finished; start again.")
        if not _same_browser(cookie, pending):
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
        account_id = await link_citizen(db, settings, claims, ip)
    except AppError as exc:
        async with db.session() as session:
            audit.record(session, actor="vneid", action="login.vneid", target_type="oidc_state", target_id=state[:16],
                         outcome="failure", ip=ip, details={"reason": exc.detail})
        raise
    one_time = secrets.token_urlsafe(32)
    async with db.session() as session:
        row = await repository.by_id(session, pending.id)
        assert row is not None
        row.code_hash, row.account_id = _digest(one_time), account_id
        row.code_expires_at = utcnow() + timedelta(seconds=settings.sign_in_code_seconds)
    target = pending.return_to or settings.sign_in_return_urls[0]
    separator = "&" if urlsplit(target).query else "?"
    return f"{target}{separator}{urlencode({'code': one_time})}"


async def exchange(db: Database, sessions: SessionService, code: str, cookie: str | None, ip: str) -> dict[str, Any]:
    """The tokens for a one-time code, once, to the browser the sign-in was bound to (the code is spent even when
    the rest is wrong); the attempt is audited either way."""
    now = utcnow()
    async with db.session() as session:
        row = await repository.by_code_hash(session, _digest(code))
        problem = None
        if row is None or row.account_id is None:
            problem = "unknown"
        elif row.code_used_at is not None:
            problem = "already used"
        elif row.code_expires_at is None or row.code_expires_at <= now:
            problem = "expired"
        elif not _same_browser(cookie, row):
            problem = "for another browser"
        if row is not None:
            row.code_used_at = row.code_used_at or now  # single use, even when the rest is wrong
        if problem is None and row is not None and row.account_id is not None:
            account = await accounts.account(session, row.account_id)
            if account is None or not account.active:
                problem = "for an account that is disabled"
            else:
                tokens = await sessions.issue(session, account)
                audit.record(session, actor=f"account:{account.id}", action="login.vneid.code", target_type="account",
                             target_id=str(account.id), ip=ip)
        if problem is not None:
            audit.record(session, actor="vneid", action="login.vneid.code", target_type="oidc_code",
                         target_id=row.state[:16] if row is not None else "unknown", outcome="failure", ip=ip,
                         details={"reason": problem})
    if problem is not None:
        raise InvalidCode(f"The sign-in code is {problem}; sign in again.", error="invalid_grant",
                          errors=[{"field": "code", "message": problem}])
    return tokens


async def link_citizen(db: Database, settings: IdentitySettings, claims: dict[str, Any], ip: str) -> uuid.UUID:
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
        person = await persons.by_number(session, number)
        if person is None:
            person, _ = await create_or_get(session, incoming)
        account = await accounts.account_by_person(session, person.id)
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
