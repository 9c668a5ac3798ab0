"""Who is talking to the LRS: a bearer token (people, machines), or HTTP Basic credentials handed to content at
launch (bound to one enrolment and lesson, short-lived, stored as a keyed hash).

A cmi5 launch also gets a fetch URL carrying a one-time secret (cmi5 §8.2): its first POST hands the assignable unit
another Basic secret of the same launch; later POSTs get cmi5's error body instead. The secret travels in the query
string, which access logs leave out, and starts with :data:`FETCH_SECRET_PREFIX`, which the kit's log formatter
masks wherever else it might appear (a logged launch URL carries it percent-encoded)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from fastapi import Request
from sqlalchemy import update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal, current_principal
from services.common.db import utcnow
from services.common.errors import Unauthorized
from services.common.permissions import is_national_officer
from services.learning.context import CtxDep, LearningContext
from services.learning.courses import access
from services.learning.models import CourseEnrolment, XapiLaunch
from services.learning.xapi.validation import agent_key

HOME_PAGE = "https://vet.gov.vn"
#: how a cmi5 fetch secret starts: what the log formatter looks for (services/common/logging.py)
FETCH_SECRET_PREFIX = "cmi5f_"


@dataclass(frozen=True)
class Caller:
    """``authority``: whose statements these are (a person's account, a machine client, or the learner of a launch)."""

    authority: str
    principal: Principal | None = None
    launch: XapiLaunch | None = None
    #: sees every statement (platform admins, national officers)
    sees_all: bool = False
    #: the agents (as :func:`agent_key` strings) whose State documents this caller may read and write
    agents: frozenset[str] = frozenset()


def secret_hash(ctx: LearningContext, secret: str) -> str:
    key = ctx.settings.secret_key.encode()
    return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()


def learner_agent(enrolment: CourseEnrolment) -> dict[str, Any]:
    return {"objectType": "Agent", "name": enrolment.full_name or enrolment.learner_key,
            "account": {"homePage": HOME_PAGE, "name": enrolment.learner_key}}


def _account_key(name: str) -> str:
    return agent_key({"account": {"homePage": HOME_PAGE, "name": name}})


def _basic(launch_id: uuid.UUID, secret: str) -> str:
    return base64.b64encode(f"{launch_id}:{secret}".encode()).decode()


async def new_launch(ctx: LearningContext, session: AsyncSession, enrolment: CourseEnrolment, lesson_id: uuid.UUID, *,
                     fetch: bool = False) -> tuple[XapiLaunch, str, str | None]:
    """A launch: its row, the ``Authorization`` value for its Basic credentials, and with ``fetch`` the one-time
    secret of its cmi5 fetch URL."""
    secret = secrets.token_urlsafe(32)
    fetch_secret = FETCH_SECRET_PREFIX + secrets.token_urlsafe(32) if fetch else None
    now = utcnow()
    launch = XapiLaunch(id=uuid.uuid4(), enrolment_id=enrolment.id, lesson_id=lesson_id, secret_hash=secret_hash(ctx, secret),
                        created_at=now, expires_at=now + timedelta(seconds=ctx.settings.xapi_launch_seconds),
                        fetch_hash=secret_hash(ctx, fetch_secret) if fetch_secret else None)
    session.add(launch)
    await session.flush()
    return launch, f"Basic {_basic(launch.id, secret)}", fetch_secret


class FetchRefused(Exception):
    """cmi5 §8.2.3: ``code`` 1 already used or the session expired, 2 a security error (no such launch, wrong secret)."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code, self.text = code, text


async def fetch_token(ctx: LearningContext, session: AsyncSession, launch_id: str, fetch_secret: str) -> str:
    """The first POST to a launch's fetch URL: a new Basic secret of that launch (the ``auth-token``, base64 of
    ``launch id:secret``), recorded as fetched in the same statement that checks it was not, so two concurrent
    POSTs cannot both get one. Raises :class:`FetchRefused`."""
    try:
        key = uuid.UUID(launch_id)
    except ValueError:
        raise FetchRefused(2, "This is not a fetch URL of a launch.") from None
    launch = await session.get(XapiLaunch, key)
    if launch is None or launch.fetch_hash is None or not fetch_secret \
            or not hmac.compare_digest(launch.fetch_hash, secret_hash(ctx, fetch_secret)):
        raise FetchRefused(2, "This is not a fetch URL of a launch.")
    if launch.fetched_at is not None:
        raise FetchRefused(1, "The authorization token has already been returned.")
    now = utcnow()
    if launch.expires_at < now:
        raise FetchRefused(1, "The launch session has expired; launch the lesson again.")
    token = secrets.token_urlsafe(32)
    claimed = cast("CursorResult[Any]", await session.execute(update(XapiLaunch).where(XapiLaunch.id == key, XapiLaunch.fetched_at.is_(None))
                                    .values(fetched_at=now, token_hash=secret_hash(ctx, token))))
    if claimed.rowcount != 1:
        raise FetchRefused(1, "The authorization token has already been returned.")
    return _basic(key, token)


async def _from_basic(ctx: LearningContext, value: str) -> Caller:
    try:
        user, _, secret = base64.b64decode(value, validate=True).decode().partition(":")
        launch_id = uuid.UUID(user)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Unauthorized("The launch credentials are malformed.", headers={"WWW-Authenticate": 'Basic realm="xapi"'}) from None
    async with ctx.db.session(write=False) as session:
        launch = await session.get(XapiLaunch, launch_id)
        enrolment = await session.get(CourseEnrolment, launch.enrolment_id) if launch else None
    hashed = secret_hash(ctx, secret)
    known = launch is not None and (hmac.compare_digest(launch.secret_hash, hashed)
                                    or (launch.token_hash is not None and hmac.compare_digest(launch.token_hash, hashed)))
    if launch is None or enrolment is None or not known or launch.expires_at < utcnow():
        raise Unauthorized("The launch credentials are not valid (or have expired).", headers={"WWW-Authenticate": 'Basic realm="xapi"'})
    return Caller(authority=enrolment.account_sub or enrolment.learner_key, launch=launch,
                  agents=frozenset({agent_key(learner_agent(enrolment))}))


async def xapi_caller(request: Request, ctx: CtxDep) -> Caller:
    """The caller, from the request's ``Authorization`` header (a FastAPI dependency)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic" and value.strip():
        return await _from_basic(ctx, value.strip())
    principal = await current_principal(request)
    actor = principal.sub if principal.kind == "user" else access.actor(principal)
    # a person's own agent: the account launches name them by (learner key), or their account subject
    agents = {_account_key(actor)} | ({_account_key(access.learner_key(principal))} if principal.kind == "user" else set())
    return Caller(authority=actor, principal=principal, sees_all=access.is_platform_admin(principal) or is_national_officer(principal),
                  agents=frozenset(agents))

