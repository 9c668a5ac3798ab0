"""The rules of LTI 1.3, tool side: platform registrations, the OIDC third-party-initiated login, the ``id_token``
launch, launch sessions for the player (a course, or an exam), Deep Linking responses.

Login (LTI 1.3 core §4.1, IMS Security Framework §5.1.1): the platform sends ``iss``, ``login_hint`` and
``target_link_uri``; the tool stores a ``state`` and a ``nonce`` (short-lived, used once), binds them to the
browser with a cookie, and redirects to the platform's authorisation endpoint. Launch (§5.1.2–5.1.3): the browser
posts the ``id_token`` and the ``state`` back; the state is spent first, in a transaction of its own, so a launch
that fails still used it; then the token's signature, claims and deployment are checked
(:func:`messages.verify_id_token`), the platform's user is mapped to a pseudonymous LTI user, and a short-lived
session opens on the resource (a learner is enrolled in the course, or put on the exam's roster, at the first
launch).

An LTI user is not a person of identity: the pair (platform, ``sub``) is all the tool knows, with the name when the
platform sends one. Their enrolments name them ``lti:<lti user id>`` (``learner_key`` and ``account_sub``); their
school is the platform's institution. Linking an LTI user to a person of identity (their VNeID sign-in) is not
done here: their completions are reported with a name and no person id, like an account without a person.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.db import Database, utcnow
from services.common.errors import BadRequest, Forbidden, NotFound, ServiceUnavailable, Unauthorized, ValidationFailed
from services.common.permissions import roles_at
from services.common.text import nfc
from services.learning.assessment.exams import repository as exams_repository
from services.learning.assessment.exams import service as exams
from services.learning.assessment.exams.schemas import SubmitIn
from services.learning.config import LearningSettings
from services.learning.courses import access as course_access
from services.learning.courses import repository as course_repository
from services.learning.courses import service as courses
from services.learning.courses.schemas import AttemptSubmit, ProgressIn
from services.learning.lti import messages, repository, targets
from services.learning.lti.keys import ToolKeys
from services.learning.lti.messages import LaunchRefused
from services.learning.lti.schemas import (
    DeepLinkChoice,
    DeepLinkResponse,
    ExamView,
    PlatformCreate,
    PlatformUpdate,
    SessionRead,
    SessionUser,
    TargetRead,
    ToolConfiguration,
)
from services.learning.models import CourseEnrolment, LtiLoginState, LtiPlatform, LtiSession, LtiUser

#: how long expired login states and sessions are kept before they are deleted
KEEP_EXPIRED = timedelta(days=1)
#: deep linking offers at most this many resources
CHOICES_LIMIT = 500


def keyed_hash(secret_key: str, label: str, value: str) -> str:
    return hmac.new(secret_key.encode(), f"lti-{label}\n{value}".encode(), hashlib.sha256).hexdigest()


# -- the tool's addresses -----------------------------------------------------------------------------------------------


def tool_url(settings: LearningSettings) -> str:
    return f"{settings.public_service_url.rstrip('/')}/v1/lti"


def launch_url(settings: LearningSettings) -> str:
    return f"{tool_url(settings)}/launch"


def configuration(settings: LearningSettings) -> ToolConfiguration:
    base = tool_url(settings)
    return ToolConfiguration(
        tool_url=f"{base}/launch", initiate_login_url=f"{base}/login", redirection_uris=[f"{base}/launch"],
        jwks_url=f"{base}/jwks.json", deep_linking_url=f"{base}/launch", target_link_uri_format=f"{base}/launch?target=course:<course id>",
        custom_parameter=f"{messages.TARGET_PARAMETER}=course:<course id>", scopes=[messages.AGS_SCORE_SCOPE],
        signing_algorithm=messages.ALGORITHM)


# -- platform registrations -----------------------------------------------------------------------------------------


def may_manage(principal: Principal, institution_code: str | None) -> bool:
    """Platform admins register any platform (national ones: launching national courses only); a school admin
    registers the school's own."""
    if course_access.is_platform_admin(principal):
        return True
    return institution_code is not None and "school_admin" in roles_at(principal, institution_code)


def managed_institutions(principal: Principal) -> set[str] | None:
    """The institutions whose platforms the caller manages; None: all."""
    if course_access.is_platform_admin(principal):
        return None
    return {code for code, roles in principal.roles.items() if "school_admin" in roles}


def _check_url(settings: LearningSettings, field: str, value: str | None) -> list[dict[str, str]]:
    if value is None:
        return []
    parts = messages.split_url(value)
    schemes = ("https",) if settings.environment == "production" else ("https", "http")
    if parts is None or parts.scheme not in schemes or parts.fragment or parts.username:
        return [{"field": field, "message": f"an absolute {' or '.join(schemes)} URL without credentials or fragment"}]
    return []


def _validate(settings: LearningSettings, values: Mapping[str, Any], *, jwks_given: bool) -> None:
    errors = [e for name in ("issuer", "auth_login_url", "jwks_url", "token_url") for e in _check_url(settings, name, values.get(name))]
    if not jwks_given:
        errors.append({"field": "jwks_url", "message": "give the platform's public keyset URL or its keys (jwks)"})
    if errors:
        raise ValidationFailed("The platform registration is not valid.", errors=errors)


async def register_platform(session: AsyncSession, settings: LearningSettings, principal: Principal, body: PlatformCreate,
                            province_code: str | None, institution_type: str | None) -> LtiPlatform:
    if not may_manage(principal, body.institution_code):
        raise Forbidden("Platform admins register LTI platforms, and school admins their school's."
                        if body.institution_code else "Only platform admins register national LTI platforms.")
    values = body.model_dump()
    _validate(settings, values, jwks_given=bool(body.jwks_url or body.jwks))
    if await repository.platform_by_client(session, body.issuer, body.client_id) is not None:
        raise ValidationFailed("This platform and client id are registered already.",
                               errors=[{"field": "client_id", "message": "already registered for this issuer"}])
    platform = LtiPlatform(id=uuid.uuid4(), **values | {"name": nfc(body.name), "jwks": body.jwks.model_dump() if body.jwks else None},
                           province_code=province_code, institution_type=institution_type, active=True,
                           created_by=course_access.actor(principal))
    session.add(platform)
    await session.flush()
    return platform


async def managed_platform(session: AsyncSession, principal: Principal, platform_id: uuid.UUID) -> LtiPlatform:
    platform = await session.get(LtiPlatform, platform_id)
    if platform is None or not may_manage(principal, platform.institution_code):
        raise NotFound(f"No LTI platform {platform_id}.")
    return platform


async def update_platform(session: AsyncSession, settings: LearningSettings, principal: Principal, platform_id: uuid.UUID,
                          body: PlatformUpdate) -> LtiPlatform:
    platform = await managed_platform(session, principal, platform_id)
    changes = body.model_dump(exclude_unset=True)
    for name in ("name", "deployment_ids", "auth_login_url", "active"):
        if name in changes and changes[name] is None:
            raise ValidationFailed(f"{name} cannot be null.", errors=[{"field": name, "message": "may not be null"}])
    merged = {"issuer": platform.issuer, "jwks_url": platform.jwks_url, "jwks": platform.jwks, "auth_login_url": platform.auth_login_url,
              "token_url": platform.token_url} | changes
    _validate(settings, merged, jwks_given=bool(merged["jwks_url"] or merged["jwks"]))
    for name, value in changes.items():
        setattr(platform, name, nfc(value) if name == "name" else value)
    await session.flush()
    return platform


# -- the platforms' keys ----------------------------------------------------------------------------------------------


@dataclass
class _KeySet:
    keys: list[dict[str, Any]]
    fetched: float


@dataclass
class PlatformKeys:
    """Each platform's public keys: inline, or fetched from its JWKS URL and kept for ``ttl`` seconds; a ``kid`` not
    among them fetches again (key rotation), at most once per ``min_refresh`` seconds."""

    http: httpx.AsyncClient
    ttl: float = 3600.0
    min_refresh: float = 10.0
    _sets: dict[tuple[uuid.UUID, str], _KeySet] = field(default_factory=dict)

    async def _fetch(self, url: str) -> list[dict[str, Any]]:
        resp = await self.http.get(url, timeout=10.0)
        resp.raise_for_status()
        keys = resp.json().get("keys")
        if not isinstance(keys, list):
            raise ValueError("no keys")
        return [k for k in keys if isinstance(k, dict)]

    async def key_for(self, platform: LtiPlatform, kid: str | None) -> dict[str, Any] | None:
        if platform.jwks:
            return messages.select_key(list(platform.jwks.get("keys") or []), kid)
        assert platform.jwks_url is not None
        cache_key = (platform.id, platform.jwks_url)
        kept = self._sets.get(cache_key)
        now = time.monotonic()
        if kept is not None and now - kept.fetched < self.ttl:
            found = messages.select_key(kept.keys, kid)
            if found is not None or now - kept.fetched < self.min_refresh:
                return found
        try:
            keys = await self._fetch(platform.jwks_url)
        except (httpx.HTTPError, ValueError, OSError) as exc:
            if kept is not None:
                return messages.select_key(kept.keys, kid)
            raise ServiceUnavailable("The platform's public keys cannot be fetched from its keyset URL; try the launch again.") from exc
        self._sets[cache_key] = _KeySet(keys, now)
        return messages.select_key(keys, kid)


# -- login ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginRedirect:
    url: str
    cookie_name: str
    cookie_value: str
    max_age: int


def cookie_name(state_hash: str) -> str:
    return f"lti1p3_{state_hash[:20]}"


def _param(params: Mapping[str, str], name: str, *, required: bool = True, max_length: int = 2000) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise BadRequest(f"The login initiation lacks {name}.", errors=[{"field": name, "message": "required"}])
        return None
    if len(value) > max_length:
        raise BadRequest(f"{name} is too long.", errors=[{"field": name, "message": f"at most {max_length} characters"}])
    return value


async def _platform_for_login(session: AsyncSession, issuer: str, client_id: str | None) -> LtiPlatform:
    if client_id is not None:
        platform = await repository.platform_by_client(session, issuer, client_id)
        found = [platform] if platform is not None and platform.active else []
    else:
        found = list(await repository.platforms_of_issuer(session, issuer))
    if not found:
        raise LaunchRefused("No active LTI platform is registered with this issuer and client id.", reason="platform", claim="iss")
    if len(found) > 1:
        raise LaunchRefused("Several clients of this platform are registered: the login must name its client_id.",
                            reason="platform", claim="client_id")
    return found[0]


async def start_login(session: AsyncSession, settings: LearningSettings, params: Mapping[str, str]) -> LoginRedirect:
    """OIDC third-party-initiated login (LTI 1.3 core §4.1; IMS Security Framework §5.1.1.1–5.1.1.2)."""
    issuer = _param(params, "iss", max_length=255)
    login_hint = _param(params, "login_hint")
    target_link_uri = _param(params, "target_link_uri")
    message_hint = _param(params, "lti_message_hint", required=False)
    deployment = _param(params, "lti_deployment_id", required=False, max_length=255)
    client_id = _param(params, "client_id", required=False, max_length=255)
    assert issuer is not None and login_hint is not None and target_link_uri is not None
    platform = await _platform_for_login(session, issuer, client_id)
    if deployment is not None and deployment not in platform.deployment_ids:
        raise LaunchRefused("This deployment is not registered with the tool.", reason="deployment", claim="lti_deployment_id")
    target = messages.split_url(target_link_uri)
    if target is None or target._replace(query="").geturl() != launch_url(settings):
        raise LaunchRefused(f"The target link URI must be this tool's launch URL, {launch_url(settings)}.",
                            reason="target_link_uri", claim="target_link_uri")
    now = utcnow()
    await repository.purge_expired(session, now - KEEP_EXPIRED)
    state, nonce, browser = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    state_hash = keyed_hash(settings.secret_key, "state", state)
    session.add(LtiLoginState(id=uuid.uuid4(), state_hash=state_hash, nonce=nonce,
                              browser_hash=keyed_hash(settings.secret_key, "browser", browser), platform_id=platform.id,
                              target_link_uri=target_link_uri, created_at=now,
                              expires_at=now + timedelta(seconds=settings.lti_login_seconds)))
    await session.flush()
    query = {"scope": "openid", "response_type": "id_token", "response_mode": "form_post", "prompt": "none",
             "client_id": platform.client_id, "redirect_uri": launch_url(settings), "login_hint": login_hint,
             "state": state, "nonce": nonce}
    if message_hint is not None:
        query["lti_message_hint"] = message_hint
    separator = "&" if "?" in platform.auth_login_url else "?"
    return LoginRedirect(url=platform.auth_login_url + separator + urlencode(query), cookie_name=cookie_name(state_hash),
                         cookie_value=browser, max_age=settings.lti_login_seconds)


# -- launch ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Launched:
    player_url: str
    token: str
    session: LtiSession


async def spend_state(db: Database, settings: LearningSettings, state: str, cookies: Mapping[str, str]) -> LtiLoginState:
    """The login state of a launch, used up in a transaction of its own (a failed launch has used it too):
    unknown, from another browser, used before or expired is refused."""
    state_hash = keyed_hash(settings.secret_key, "state", state)
    async with db.session(write=True) as session:
        row = await repository.login_state(session, state_hash)
        if row is None:
            raise LaunchRefused("This launch's state is unknown: the login did not start at this tool.", reason="state", claim="state")
        if row.used_at is not None:
            raise LaunchRefused("This login was used already: a launch is accepted once.", reason="replay", claim="state")
        browser = cookies.get(cookie_name(state_hash))
        if browser is None or not hmac.compare_digest(keyed_hash(settings.secret_key, "browser", browser), row.browser_hash):
            raise LaunchRefused("This launch comes from another browser than the login that started it.", reason="browser",
                                claim="state")
        now = utcnow()
        if row.expires_at < now:
            raise LaunchRefused("The login has expired; launch again from the platform.", reason="state_expired", claim="state")
        if not await repository.use_login_state(session, row.id, now):  # a concurrent launch with the same state won
            raise LaunchRefused("This login was used already: a launch is accepted once.", reason="replay", claim="state")
        return row


def _display_name(claims: Mapping[str, Any]) -> str | None:
    name = claims.get("name")
    if not isinstance(name, str) or not name.strip():
        parts = [claims.get("given_name"), claims.get("family_name")]
        name = " ".join(p for p in parts if isinstance(p, str) and p.strip())
    name = messages.printable(name or "").strip()
    return nfc(name)[:300] if name else None


async def launch(session: AsyncSession, settings: LearningSettings, keys: PlatformKeys, login: LtiLoginState,
                 id_token: str) -> Launched:
    """LTI 1.3 core §5.1: check the ``id_token`` against the login it answers, then open the session."""
    platform = await session.get(LtiPlatform, login.platform_id)
    if platform is None or not platform.active:
        raise LaunchRefused("The platform's registration is no longer active.", reason="platform", claim="iss")
    header = messages.unverified_header(id_token)
    key = await keys.key_for(platform, header.get("kid"))
    if key is None:
        raise LaunchRefused("The id_token is signed with a key the platform does not publish.", reason="key", claim="kid")
    claims = messages.verify_id_token(id_token, key, messages.Expected(
        issuer=platform.issuer, client_id=platform.client_id, nonce=login.nonce, deployment_ids=frozenset(platform.deployment_ids),
        now=time.time(), skew=settings.lti_clock_skew_seconds))
    role = messages.map_roles(claims[messages.ROLES])
    now = utcnow()
    name = _display_name(claims)  # kept when a later launch carries none (the platform stopped sharing it)
    user = await repository.upsert_user(session, platform.id, claims["sub"], {"last_launch_at": now} | ({"name": name} if name else {}))
    deployment = claims[messages.DEPLOYMENT_ID]
    row = LtiSession(id=uuid.uuid4(), platform_id=platform.id, lti_user_id=user.id, message_type=claims[messages.MESSAGE_TYPE],
                     created_at=now, expires_at=now + timedelta(seconds=settings.lti_session_seconds))
    if claims[messages.MESSAGE_TYPE] == messages.DEEP_LINKING_REQUEST:
        if role != "instructor":
            raise LaunchRefused("Content is chosen by instructors: this user's roles name none.", reason="role", claim=messages.ROLES)
        dl = claims[messages.DL_SETTINGS]
        row.role = "instructor"
        row.deep_linking = {"return_url": dl["deep_link_return_url"], "data": dl.get("data"), "deployment_id": deployment,
                            "accept_multiple": bool(dl.get("accept_multiple", True))}
    else:
        if role is None:
            raise LaunchRefused("The launch names no role this tool serves (a learner or an instructor).", reason="role",
                                claim=messages.ROLES)
        if claims[messages.TARGET_LINK_URI] != login.target_link_uri:
            raise LaunchRefused("The launch's target link URI is not the one its login named.", reason="target_link_uri",
                                claim=messages.TARGET_LINK_URI)
        found = targets.parse(messages.launch_target(claims))
        if found is None:
            raise LaunchRefused("The launch names no resource of this tool (custom vet_target or target=course:<id>).",
                                reason="target", claim=messages.TARGET_LINK_URI)
        target, target_id = found
        info = await target.describe(session, platform, target_id)
        # AGS (Assignment and Grade Services 2.0 §3.1): the line item this link's scores go to, when the platform
        # granted the score scope; a malformed or oversized one is as good as none (no scores are sent)
        ags: dict[str, Any] = claims[messages.AGS_ENDPOINT] if isinstance(claims.get(messages.AGS_ENDPOINT), dict) else {}
        scopes = [s for s in ags.get("scope") or [] if isinstance(s, str)] if isinstance(ags.get("scope"), list) else []
        lineitem: str | None = ags.get("lineitem") if isinstance(ags.get("lineitem"), str) else None
        if lineitem is None or len(lineitem) > 2000 or not messages.split_url(lineitem) or messages.AGS_SCORE_SCOPE not in scopes:
            lineitem = None
        link_claim = claims[messages.RESOURCE_LINK]
        link = await repository.upsert_resource_link(session, platform.id, deployment, link_claim["id"], {
            "target_kind": target.kind, "target_id": info.id, "title": messages.printable(str(link_claim.get("title") or info.title))[:300],
            "lineitem_url": lineitem, "ags_scopes": [x[:300] for x in scopes[:20]], "updated_at": now})
        row.role, row.target_kind, row.target_id, row.resource_link_id = role, target.kind, info.id, link.id
        if role == "learner":
            row.record = await target.open_for_learner(session, platform, user, info.id)
            await repository.ensure_grade_link(session, link.id, user.id, row.record, now)
            await target.report_so_far(session, platform, row.record, now)
    token = secrets.token_urlsafe(32)
    row.token_hash = keyed_hash(settings.secret_key, "session", token)
    session.add(row)
    await session.flush()
    return Launched(player_url=f"{settings.lti_player_url}#lti_session={token}", token=token, session=row)


# -- the player's session ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Current:
    session: LtiSession
    user: LtiUser
    platform: LtiPlatform

    @property
    def principal(self) -> Principal:
        """The learner as the courses engine and the library see them: their enrolments' ``account_sub``, no scopes,
        a student of the platform's school (the school registered the platform: its launches are its learners)."""
        code = self.platform.institution_code
        roles = {code: ["student"]} if code and self.session.role == "learner" else {}
        return Principal(sub=targets.learner_key(self.user), kind="user", scopes=frozenset(), roles=roles)


async def current(session: AsyncSession, settings: LearningSettings, token: str | None) -> Current:
    if not token:
        raise Unauthorized("An LTI session token is required (launch from the platform).")
    row = await repository.session_by_token(session, keyed_hash(settings.secret_key, "session", token))
    if row is None or row.expires_at < utcnow():
        raise Unauthorized("The LTI session is unknown or has expired; launch again from the platform.")
    user = await session.get(LtiUser, row.lti_user_id)
    platform = await session.get(LtiPlatform, row.platform_id)
    if user is None or platform is None or not platform.active:
        raise Unauthorized("The LTI session's platform is no longer registered.")
    return Current(row, user, platform)


async def session_read(session: AsyncSession, cur: Current) -> SessionRead:
    target = None
    if cur.session.target_kind and cur.session.target_id:
        info = await targets.TARGETS[cur.session.target_kind].describe(session, cur.platform, cur.session.target_id)
        target = TargetRead(kind=info.kind, id=info.id, title=info.title, text=info.text)
    return SessionRead(id=cur.session.id, message_type=cur.session.message_type, role=cur.session.role,
                       platform_role="teacher" if cur.session.role == "instructor" else "student",
                       user=SessionUser(id=cur.user.id, name=cur.user.name), platform=cur.platform.name, target=target,
                       record=cur.session.record, expires_at=cur.session.expires_at,
                       accept_multiple=cur.session.deep_linking.get("accept_multiple") if cur.session.deep_linking else None)


def _course_id(cur: Current) -> uuid.UUID:
    if cur.session.target_kind != "course" or cur.session.target_id is None:
        raise NotFound("This LTI session did not launch a course.")
    return uuid.UUID(cur.session.target_id)


def enrolment_id(cur: Current) -> uuid.UUID:
    """The learner's enrolment in the launched course (403 for an instructor's launch)."""
    return _enrolment_id(cur)


def _enrolment_id(cur: Current) -> uuid.UUID:
    _course_id(cur)
    kind, _, value = (cur.session.record or "").partition("/")
    if kind != "enrolment":
        raise Forbidden("Only a learner's launch works in the course; an instructor's launch previews it.")
    return uuid.UUID(value)


async def course_view(session: AsyncSession, cur: Current) -> dict[str, Any]:
    """The course (modules, lessons, quizzes) and, for a learner, their enrolment's progress."""
    course = await courses.load_course(session, _course_id(cur))
    out: dict[str, Any] = {"course": await courses.detail(session, course), "enrolment": None}
    if cur.session.record:
        enrolment = await session.get(CourseEnrolment, _enrolment_id(cur))
        if enrolment is not None:
            out["enrolment"] = await courses.standing(session, enrolment)
    return out


async def record_progress(session: AsyncSession, outbox: Any, cur: Current, lesson_id: uuid.UUID, body: ProgressIn) -> Any:
    return await courses.record_progress(session, outbox, cur.principal, _enrolment_id(cur), lesson_id, body)


async def start_attempt(session: AsyncSession, cur: Current, quiz_id: uuid.UUID) -> tuple[Any, bool]:
    return await courses.start_attempt(session, cur.principal, _enrolment_id(cur), quiz_id)


async def attempt_of(session: AsyncSession, cur: Current, attempt_id: uuid.UUID) -> Any:
    enrolment_id = _enrolment_id(cur)
    attempt = next((a for a in await course_repository.attempts(session, enrolment_id) if a.id == attempt_id), None)
    if attempt is None:
        raise NotFound(f"No quiz attempt {attempt_id} in this launch.")
    return attempt


async def submit_attempt(session: AsyncSession, outbox: Any, cur: Current, attempt_id: uuid.UUID, body: AttemptSubmit) -> tuple[Any, Any]:
    await attempt_of(session, cur, attempt_id)
    return await courses.submit_attempt(session, outbox, cur.principal, attempt_id, body)


# -- an exam, sat through the launch -----------------------------------------------------------------------------------
# The exam's own rules hold as for any sitting (:mod:`services.learning.assessment.exams.service`): the window, the
# duration and the learner's extra time are checked by the server's clock; scores are shown once released.


def _exam_id(cur: Current) -> uuid.UUID:
    if cur.session.target_kind != "exam" or cur.session.target_id is None:
        raise NotFound("This LTI session did not launch an exam.")
    return uuid.UUID(cur.session.target_id)


def _candidate(cur: Current) -> None:
    _exam_id(cur)
    if not (cur.session.record or "").startswith("exam-candidate/"):
        raise Forbidden("Only a learner's launch sits the exam; an instructor's launch shows it.")


async def exam_view(session: AsyncSession, cur: Current, now: datetime) -> ExamView:
    """The launched exam and, for a learner, their attempts and (once released) their result."""
    info = await targets.TARGETS["exam"].describe(session, cur.platform, str(_exam_id(cur)))
    exam = await exams_repository.exam(session, uuid.UUID(info.id))
    assert exam is not None
    result = await exams.my_result(session, cur.principal, exam.id, now) if cur.session.record else None
    return ExamView(exam=exams.exam_read(exam), result=result)


async def start_exam_attempt(session: AsyncSession, cur: Current, now: datetime) -> tuple[Any, bool]:
    _candidate(cur)
    return await exams.start_attempt(session, cur.principal, _exam_id(cur), now)


async def exam_attempt(session: AsyncSession, cur: Current, attempt_id: uuid.UUID, now: datetime) -> tuple[Any, Any]:
    """The learner's attempt at the launched exam (404 for any other), closed first if overdue."""
    _candidate(cur)
    try:
        attempt, exam, _, role = await exams.load_attempt(session, cur.principal, attempt_id, now)
    except NotFound:
        raise NotFound(f"No exam attempt {attempt_id} in this launch.") from None
    if role != "learner" or exam.id != _exam_id(cur):
        raise NotFound(f"No exam attempt {attempt_id} in this launch.")
    return attempt, exam


async def exam_attempt_read(session: AsyncSession, cur: Current, attempt_id: uuid.UUID, now: datetime) -> Any:
    attempt, exam = await exam_attempt(session, cur, attempt_id, now)
    return await exams.attempt_read(session, attempt, exam, "learner")


async def answer_exam_item(session: AsyncSession, cur: Current, attempt_id: uuid.UUID, item_id: uuid.UUID, given: Any,
                           now: datetime) -> Any:
    await exam_attempt(session, cur, attempt_id, now)
    return await exams.answer(session, cur.principal, attempt_id, item_id, given, now)


async def exam_file_target(session: AsyncSession, cur: Current, attempt_id: uuid.UUID, item_id: uuid.UUID, now: datetime) -> Any:
    """Before a file answer streams: the learner's open attempt at the launched exam holds this file item."""
    await exam_attempt(session, cur, attempt_id, now)
    return await exams.file_answer_target(session, cur.principal, attempt_id, item_id, now)


async def exam_file_answer(session: AsyncSession, cur: Current, attempt_id: uuid.UUID, item_id: uuid.UUID, blob_id: uuid.UUID,
                           filename: str | None, content_type: str, size: int, now: datetime) -> Any:
    """Once the bytes are in: the answer, if the attempt is still open (its deadline is checked again)."""
    await exam_attempt(session, cur, attempt_id, now)
    return await exams.file_answer(session, cur.principal, attempt_id, item_id, blob_id, filename, content_type, size, now)


async def submit_exam_attempt(session: AsyncSession, cur: Current, attempt_id: uuid.UUID, body: SubmitIn, now: datetime) -> Any:
    await exam_attempt(session, cur, attempt_id, now)
    attempt = await exams.submit(session, cur.principal, attempt_id, body, now)
    return await exam_attempt_read(session, cur, attempt.id, now)


# -- deep linking -----------------------------------------------------------------------------------------------------


async def choices(session: AsyncSession, cur: Current) -> list[TargetRead]:
    _deep_linking(cur)
    found = []
    for target in targets.TARGETS.values():
        found += [TargetRead(kind=i.kind, id=i.id, title=i.title, text=i.text) for i in await target.choices(session, cur.platform, CHOICES_LIMIT)]
    return found


def _deep_linking(cur: Current) -> dict[str, Any]:
    if cur.session.message_type != messages.DEEP_LINKING_REQUEST or not cur.session.deep_linking:
        raise Forbidden("This LTI session is not a deep linking request.")
    return cur.session.deep_linking


async def deep_link(session: AsyncSession, settings: LearningSettings, keys: ToolKeys, cur: Current,
                    body: DeepLinkChoice) -> DeepLinkResponse:
    """The ``LtiDeepLinkingResponse`` (Deep Linking 2.0 §4.2) with an ``ltiResourceLink`` per chosen resource: its
    launch URL names the resource, so does a custom parameter, and a line item (0–100) asks the platform for a grade
    column (§3.2.3)."""
    request = _deep_linking(cur)
    if len(body.items) > 1 and not request.get("accept_multiple", True):
        raise ValidationFailed("The platform accepts one item here.", errors=[{"field": "items", "message": "choose one"}])
    items, errors = [], []
    for i, item in enumerate(body.items):
        try:
            info = await targets.TARGETS[item.kind].describe(session, cur.platform, item.id)
        except NotFound:
            errors.append({"field": f"items.{i}.id", "message": f"no {item.kind} this platform may launch"})
            continue
        ref = f"{info.kind}:{info.id}"
        entry: dict[str, Any] = {
            "type": "ltiResourceLink", "title": info.title, "url": f"{launch_url(settings)}?target={ref}",
            "custom": {messages.TARGET_PARAMETER: ref},
            "lineItem": {"scoreMaximum": 100, "label": info.title, "resourceId": ref, "tag": "vet-platform"},
        }
        if info.text:
            entry["text"] = info.text[:1000]
        if info.window is not None:  # an exam's window: when the platform may show the link as open for submissions
            opens, closes = (moment.astimezone(UTC).isoformat().replace("+00:00", "Z") for moment in info.window)
            entry["submission"] = {"startDateTime": opens, "endDateTime": closes}
        items.append(entry)
    if errors:
        raise ValidationFailed("Some items cannot be linked.", errors=errors)
    claims = messages.deep_linking_response(client_id=cur.platform.client_id, issuer=cur.platform.issuer,
                                            deployment_id=request["deployment_id"], data=request.get("data"), items=items,
                                            now=int(time.time()))
    token = await keys.sign(session, claims)
    url = request["return_url"]
    form = (f'<!doctype html><html><head><meta charset="utf-8"><title>LTI</title></head><body>'
            f'<form method="post" action="{html.escape(url, quote=True)}"><input type="hidden" name="JWT" '
            f'value="{html.escape(token, quote=True)}"><noscript><button type="submit">Continue</button></noscript></form>'
            f'<script>document.forms[0].submit()</script></body></html>')
    return DeepLinkResponse(deep_link_return_url=url, jwt=token, form_html=form)


# -- what the app holds -----------------------------------------------------------------------------------------------


@dataclass
class LtiContext:
    """``app.state.lti``: the tool's keys, the platforms' keys, the score sender."""

    keys: ToolKeys
    platform_keys: PlatformKeys
    scores: Any
