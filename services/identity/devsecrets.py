"""Development secrets (``dev-only-…``) in production: refused when presented, found when stored.

:func:`refused_secret` is the rule the token grant and password sign-in apply: in production a secret or password
that is a development value never authenticates, whatever the database holds (the demo seed run against a
production database stored some). :func:`find_development_secrets` lists the enabled clients and accounts whose
stored secret is one the code ships; identity logs them at start-up and ``/readyz`` names how many, and
``python -m services bootstrap`` refuses (or disables them) in production."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.config import DEV_SECRET_PREFIX

if TYPE_CHECKING:
    from services.common.db import Database
    from services.identity.config import IdentitySettings
    from services.identity.tokens.service import TokenService

log = logging.getLogger("services.identity.devsecrets")


def refused_secret(settings: IdentitySettings, secret: str) -> bool:
    """In production a development value never authenticates."""
    return settings.environment == "production" and secret.startswith(DEV_SECRET_PREFIX)


@dataclass(frozen=True)
class DevelopmentSecret:
    kind: str  # "client" | "account"
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


def known_development_client_secrets() -> set[str]:
    """Every client secret the code itself ships: the demo seed's and the services' default ones."""
    from services.identity.seed import DEMO_CLIENTS
    from services.registry import SERVICES

    secrets = {secret for _, _, secret, *_ in DEMO_CLIENTS}
    for spec in SERVICES.values():
        default = spec.settings_class().model_fields["client_secret"].default
        if isinstance(default, str) and default.startswith(DEV_SECRET_PREFIX):
            secrets.add(default)
    return secrets


async def find_development_secrets(session: AsyncSession, tokens: TokenService) -> list[DevelopmentSecret]:
    """Enabled clients and accounts whose stored secret is one the code ships (compared by keyed hash for
    clients; demo accounts, by name or by a membership the seed granted, checked against the demo passwords)."""
    from services.identity.accounts import passwords
    from services.identity.models import Account, ApiClient, Membership
    from services.identity.seed import DEMO_ACCOUNTS

    found: list[DevelopmentSecret] = []
    hashes = {tokens.hash_secret(s) for s in known_development_client_secrets()}
    clients = (await session.scalars(select(ApiClient).where(ApiClient.active.is_(True), ApiClient.secret_hash.in_(hashes)))).all()
    found += [DevelopmentSecret("client", c.client_id) for c in sorted(clients, key=lambda c: c.client_id)]
    demo_passwords = {username: password for username, _, password, _ in DEMO_ACCOUNTS}
    seeded = select(Membership.account_id).where(Membership.granted_by == "seed")
    accounts = (await session.scalars(select(Account).where(
        Account.active.is_(True), Account.password_hash.is_not(None),
        Account.username.in_(list(demo_passwords)) | Account.id.in_(seeded),
    ))).all()
    for account in sorted(accounts, key=lambda a: a.username):
        candidates = [demo_passwords[account.username]] if account.username in demo_passwords else sorted(set(demo_passwords.values()))
        if any(passwords.verify_password(account.password_hash, p) for p in candidates):
            found.append(DevelopmentSecret("account", account.username))
    return found


async def report_at_start(settings: IdentitySettings, db: Database, tokens: TokenService,
                          readiness_notes: dict[str, str]) -> None:
    """Start-up (production): log each enabled client and account holding a development secret and say so in
    ``/readyz`` (``notes.development_secrets``; readiness itself is not withdrawn: they are refused at sign-in)."""
    if settings.environment != "production":
        return
    async with db.session(write=False) as session:
        found = await find_development_secrets(session, tokens)
    if not found:
        return
    names = ", ".join(map(str, found))
    log.warning("development secrets stored in identity's database, refused at sign-in in production: %s; "
                "disable them with `python -m services bootstrap --disable-development-secrets`", names)
    clients = sum(1 for f in found if f.kind == "client")
    readiness_notes["development_secrets"] = (
        f"{clients} client(s) and {len(found) - clients} account(s) hold development secrets and are refused at "
        "sign-in; see the log, and run `python -m services bootstrap --disable-development-secrets`"
    )
