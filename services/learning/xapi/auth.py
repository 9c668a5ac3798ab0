"""Who is talking to the LRS: a bearer token (people, machines), or HTTP Basic credentials handed to content at
launch (bound to one enrolment and lesson, short-lived, stored as a keyed hash)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal, current_principal
from services.common.db import utcnow
from services.common.errors import Unauthorized
from services.common.permissions import is_national_officer
from services.learning.courses import access
from services.learning.models import CourseEnrolment, XapiLaunch

LAUNCH_HOURS = 8
HOME_PAGE = "https://vet.gov.vn"


@dataclass(frozen=True)
class Caller:
    """``authority``: whose statements these are (a person's account, a machine client, or the learner of a launch)."""

    authority: str
    principal: Principal | None = None
    launch: XapiLaunch | None = None
    #: sees every statement (platform admins, national officers)
    sees_all: bool = False


def secret_hash(request: Request, secret: str) -> str:
    key = request.app.state.settings.secret_key.encode()
    return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()


def learner_agent(enrolment: CourseEnrolment) -> dict[str, object]:
    return {"objectType": "Agent", "name": enrolment.full_name or enrolment.learner_key,
            "account": {"homePage": HOME_PAGE, "name": enrolment.learner_key}}


async def new_launch(request: Request, session: AsyncSession, enrolment: CourseEnrolment, lesson_id: uuid.UUID) -> tuple[XapiLaunch, str]:
    secret = secrets.token_urlsafe(32)
    launch = XapiLaunch(id=uuid.uuid4(), enrolment_id=enrolment.id, lesson_id=lesson_id, secret_hash=secret_hash(request, secret),
                        created_at=utcnow(), expires_at=utcnow() + timedelta(hours=LAUNCH_HOURS))
    session.add(launch)
    await session.flush()
    basic = base64.b64encode(f"{launch.id}:{secret}".encode()).decode()
    return launch, f"Basic {basic}"


async def _from_basic(request: Request, value: str) -> Caller:
    try:
        user, _, secret = base64.b64decode(value, validate=True).decode().partition(":")
        launch_id = uuid.UUID(user)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Unauthorized("The launch credentials are malformed.", headers={"WWW-Authenticate": 'Basic realm="xapi"'}) from None
    async with request.app.state.db.session(write=False) as session:
        launch = await session.get(XapiLaunch, launch_id)
        enrolment = await session.get(CourseEnrolment, launch.enrolment_id) if launch else None
    if launch is None or enrolment is None or not hmac.compare_digest(launch.secret_hash, secret_hash(request, secret)) \
            or launch.expires_at < utcnow():
        raise Unauthorized("The launch credentials are not valid (or have expired).", headers={"WWW-Authenticate": 'Basic realm="xapi"'})
    return Caller(authority=enrolment.account_sub or enrolment.learner_key, launch=launch)


async def xapi_caller(request: Request) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic" and value.strip():
        return await _from_basic(request, value.strip())
    principal = await current_principal(request)
    actor = principal.sub if principal.kind == "user" else access.actor(principal)
    return Caller(authority=actor, principal=principal,
                  sees_all=access.is_platform_admin(principal) or is_national_officer(principal))

