"""First start of a platform: the first platform administrator and the services' own machine clients.

``python -m services bootstrap`` calls :func:`bootstrap` after ``migrate``. Everything happens in one transaction
of identity's database, so a refusal changes nothing:

* each service's machine client (``svc-learning``, ``svc-records``, ``svc-credentials``: event delivery and person
  look-ups) is made to match the environment (``<SVC>_CLIENT_ID`` / ``<SVC>_CLIENT_SECRET``): created when
  missing; its secret replaced when the environment holds another one (a rotation: deploy the new secret to the
  service, run bootstrap again); its scopes set to :func:`~services.identity.seed.service_scopes` (learning's also
  enters grades in records); enabled;
* the first platform administrator is created when no account holds ``platform_admin`` yet, with the password the
  operator gives (never on the command line: a file or standard input); once one exists nothing is changed, so the
  command can run at every deployment (the password is not even read);
* in production, it refuses when a development secret (``dev-only-…``: the demo seed's clients and accounts, the
  services' default secrets) is stored in the database, naming each one; ``disable_development_secrets`` disables
  those clients and accounts instead (audited);
* ``new_signing_key`` starts a new token signing key (when ``IDENTITY_KEY_ENCRYPTION_SECRET`` was lost and the
  stored key cannot be decrypted).

Running it again with the same environment changes nothing.

:func:`find_development_secrets` is also what identity runs at start-up in production (logged and shown by
``/readyz``), and :func:`refused_secret` is the rule sign-in and token grants apply: in production, a secret or
password that is a development value is refused, whatever the database holds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.config import DEV_SECRET_PREFIX
from services.common.db import Database, utcnow
from services.identity.accounts import passwords
from services.identity.audit import service as audit
from services.identity.config import IdentitySettings
from services.identity.devsecrets import DevelopmentSecret, find_development_secrets, refused_secret
from services.identity.models import Account, ApiClient, Membership
from services.identity.seed import service_scopes
from services.identity.tokens.service import TokenService

ACTOR = "bootstrap"
ADMIN_AT, ADMIN_ROLE = "national", "platform_admin"


class BootstrapRefused(Exception):
    """Bootstrap will not proceed; the message says why and what to do. Nothing was changed."""


@dataclass(frozen=True)
class ServiceClient:
    """A service's own machine client, as its environment names it."""

    service: str
    client_id: str
    secret: str


@dataclass(frozen=True)
class FirstAdmin:
    username: str
    full_name: str
    #: called only when the account is to be created (so a later run needs no password)
    password: Callable[[], str]


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    changed: bool = False

    def add(self, line: str, *, changed: bool) -> None:
        self.lines.append(line)
        self.changed |= changed


async def bootstrap(
    settings: IdentitySettings,
    service_clients: list[ServiceClient],
    admin: FirstAdmin | None,
    *,
    disable_development_secrets: bool = False,
    new_signing_key: bool = False,
) -> Report:
    production = settings.environment == "production"
    for client in service_clients:
        if not client.client_id or not client.secret:
            raise BootstrapRefused(f"{client.service.upper()}_CLIENT_ID and {client.service.upper()}_CLIENT_SECRET must be set.")
        if production and client.secret.startswith(DEV_SECRET_PREFIX):
            raise BootstrapRefused(f"{client.service.upper()}_CLIENT_SECRET is a development value ({DEV_SECRET_PREFIX}…); "
                                   "set a real secret in the environment of the service and of bootstrap.")
    tokens = TokenService(settings)
    report = Report()
    db = Database(settings.database_url, pool_size=1, max_overflow=0)
    try:
        async with db.session(write=True) as session:
            if new_signing_key:
                # the way back after IDENTITY_KEY_ENCRYPTION_SECRET is lost: sign with a new key from now on; the old
                # public key stays published until the tokens it signed expire (people sign in again after that)
                key = await tokens.rotate(session)
                audit.record(session, actor=ACTOR, action="signing_key.rotate", target_type="signing_key", target_id=key.kid)
                report.add(f"signing key: new key {key.kid} (the previous one is retired)", changed=True)
            else:
                await tokens.ensure_signing_key(session)
            for client in service_clients:
                await _ensure_service_client(session, tokens, client, report)
            await _ensure_first_admin(session, settings, admin, report)
            if production:
                found = await find_development_secrets(session, tokens)
                if found and not disable_development_secrets:
                    raise BootstrapRefused(
                        "development secrets are stored in identity's database (demo data?): " + ", ".join(map(str, found))
                        + ". In production they are refused at sign-in; run bootstrap with --disable-development-secrets"
                        " to disable these clients and accounts (nothing was changed)."
                    )
                for item in found:
                    await _disable(session, item)
                    report.add(f"{item}: disabled (its secret is a development value)", changed=True)
    finally:
        await db.dispose()
    return report


async def _ensure_service_client(session: AsyncSession, tokens: TokenService, spec: ServiceClient, report: Report) -> None:
    wanted = service_scopes(spec.service)
    scopes = " ".join(wanted)
    client = await session.scalar(select(ApiClient).where(ApiClient.client_id == spec.client_id))
    if client is None:
        await tokens.create_client(session, client_id=spec.client_id, name=f"Platform service {spec.service}",
                                   scopes=wanted, secret=spec.secret)
        audit.record(session, actor=ACTOR, action="client.create", target_type="client", target_id=spec.client_id,
                     details={"scopes": scopes, "service": spec.service})
        report.add(f"client {spec.client_id}: registered for {spec.service} ({scopes})", changed=True)
        return
    changes = []
    if client.secret_hash != tokens.hash_secret(spec.secret):
        client.secret_hash = tokens.hash_secret(spec.secret)
        changes.append("secret rotated to the environment's")
    if client.scopes != scopes:
        client.scopes = scopes
        changes.append(f"scopes set to {scopes}")
    if not client.active:
        client.active = True
        changes.append("enabled")
    if changes:
        audit.record(session, actor=ACTOR, action="client.update", target_type="client", target_id=spec.client_id,
                     details={"changes": changes, "service": spec.service})
        report.add(f"client {spec.client_id}: " + "; ".join(changes), changed=True)
    else:
        report.add(f"client {spec.client_id}: up to date", changed=False)


async def _ensure_first_admin(session: AsyncSession, settings: IdentitySettings, admin: FirstAdmin | None, report: Report) -> None:
    existing = (await session.scalars(
        select(Account.username).join(Membership, Membership.account_id == Account.id)
        .where(Membership.at == ADMIN_AT, Membership.role == ADMIN_ROLE).order_by(Account.username)
    )).all()
    if existing:
        report.add(f"platform administrator: {', '.join(existing)} (exists; nothing changed)", changed=False)
        return
    if admin is None:
        report.add("platform administrator: none yet (give --admin-username and --admin-password-file to create one)",
                   changed=False)
        return
    if await session.scalar(select(Account.id).where(Account.username == admin.username)) is not None:
        raise BootstrapRefused(f"an account {admin.username!r} exists and is not a platform administrator; "
                               "choose another --admin-username (bootstrap never elevates an existing account).")
    password = admin.password()
    if refused_secret(settings, password):
        raise BootstrapRefused(f"the administrator's password is a development value ({DEV_SECRET_PREFIX}…).")
    problems = passwords.policy_errors(password, username=admin.username)
    if problems:
        raise BootstrapRefused("the administrator's password is not acceptable: " + "; ".join(problems) + ".")
    account = Account(username=admin.username, full_name=admin.full_name, password_hash=passwords.hash_password(password),
                      password_changed_at=utcnow(), active=True)
    session.add(account)
    await session.flush()
    session.add(Membership(account_id=account.id, at=ADMIN_AT, role=ADMIN_ROLE, granted_by=ACTOR))
    audit.record(session, actor=ACTOR, action="account.create", target_type="account", target_id=str(account.id),
                 details={"username": admin.username, "roles": [f"{ADMIN_ROLE}@{ADMIN_AT}"]})
    report.add(f"platform administrator: {admin.username} created", changed=True)


async def _disable(session: AsyncSession, item: DevelopmentSecret) -> None:
    if item.kind == "client":
        row = await session.scalar(select(ApiClient).where(ApiClient.client_id == item.name))
        target_id = item.name
    else:
        row = await session.scalar(select(Account).where(Account.username == item.name))
        target_id = str(row.id) if row is not None else item.name
    if row is not None:
        row.active = False
        audit.record(session, actor=ACTOR, action=f"{item.kind}.disable", target_type=item.kind, target_id=target_id,
                     details={"reason": "development secret in production"})
