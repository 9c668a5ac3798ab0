"""LTI 1.3 over HTTP. Routes parse, call :mod:`services.learning.lti.service` and shape the answer.

* Public (they authenticate otherwise, and the gateway lets them through without a bearer token): the tool's
  configuration and JWKS, the OIDC login initiation (GET and POST), the launch (the platform's signed ``id_token``),
  and the player's session routes in a course or an exam (the launch's session token as ``Authorization: Bearer``).
* With an identity token: registering platforms (platform admins; school admins for their school), rotating the
  tool's key (platform admins), listing and re-driving a platform's scores.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Header, Query, Request, Response
from starlette.responses import HTMLResponse, RedirectResponse

from services.common.auth import CurrentPrincipal, bearer_token
from services.common.db import SessionDep, utcnow
from services.common.errors import Forbidden
from services.common.links import link
from services.common.pagination import Page, PageDep
from services.learning.assessment import uploads
from services.learning.assessment.dependencies import Now
from services.learning.assessment.exams.schemas import AttemptRead as ExamAttemptRead
from services.learning.assessment.exams.schemas import ResponseIn, SubmitIn
from services.learning.assessment.exams.schemas import ResponseRead as ExamResponseRead
from services.learning.context import CtxDep, context_of
from services.learning.courses import access as course_access
from services.learning.courses import directory
from services.learning.courses import service as courses
from services.learning.courses.schemas import AttemptRead, AttemptSubmit, LaunchRead, LessonProgressRead, ProgressIn
from services.learning.files.service import safe_filename
from services.learning.lti import repository, service
from services.learning.lti.schemas import (
    DeepLinkChoice,
    DeepLinkResponse,
    ExamView,
    KeyRead,
    PlatformCreate,
    PlatformRead,
    PlatformUpdate,
    RedriveResult,
    ScoreRead,
    SessionRead,
    TargetRead,
    ToolConfiguration,
)
from services.learning.lti.service import LtiContext
from services.learning.xapi import launches

router = APIRouter(tags=["lti"])
NO_STORE = {"Cache-Control": "no-store"}


def _settings(request: Request) -> Any:
    return context_of(request).settings


def _lti(request: Request) -> LtiContext:
    lti = context_of(request).lti
    if lti is None:  # the app sets it up before serving
        raise RuntimeError("the LTI tool is not set up")
    return lti


# -- the tool ---------------------------------------------------------------------------------------------------------


@router.get("/v1/lti/tool", response_model=ToolConfiguration,
            summary="The addresses a platform's administrator registers the tool with (LTI 1.3)")
async def tool(request: Request) -> Any:
    return service.configuration(_settings(request))


@router.get("/v1/lti/jwks.json", summary="The tool's public keys (JWK Set): platforms verify its deep-linking responses "
            "and client assertions with them")
async def tool_jwks(request: Request, session: SessionDep) -> Response:
    body = await _lti(request).keys.jwks(session)
    return Response(json.dumps(body), media_type="application/json", headers={"Cache-Control": "public, max-age=300"})


@router.post("/v1/lti/keys/rotate", response_model=KeyRead,
             summary="Platform admins: sign with a new tool key (the previous one stays published for a day)")
async def rotate_key(request: Request, session: SessionDep, principal: CurrentPrincipal) -> Any:
    if not course_access.is_platform_admin(principal):
        raise Forbidden("Only platform admins rotate the LTI tool key.")
    key = await _lti(request).keys.rotate(session)
    return KeyRead(kid=key.kid, algorithm=key.algorithm)


# -- platforms ------------------------------------------------------------------------------------------------------


@router.post("/v1/lti/platforms", status_code=201, response_model=PlatformRead,
             summary="Register a platform (a school's Moodle or Open edX) that launches the tool")
async def register_platform(body: PlatformCreate, request: Request, ctx: CtxDep, session: SessionDep, principal: CurrentPrincipal,
                            response: Response) -> Any:
    facts = await directory.institution(ctx, body.institution_code) if body.institution_code else None
    platform = await service.register_platform(session, _settings(request), principal, body,
                                               facts.province_code if facts else None, facts.type if facts else None)
    response.headers["Location"] = link(f"/v1/lti/platforms/{platform.id}")
    return PlatformRead.model_validate(platform)


@router.get("/v1/lti/platforms", response_model=Page[PlatformRead], summary="The platforms you manage")
async def list_platforms(session: SessionDep, principal: CurrentPrincipal, page: PageDep) -> Any:
    return await repository.platforms_page(session, service.managed_institutions(principal), page, PlatformRead.model_validate)


@router.get("/v1/lti/platforms/{platform_id}", response_model=PlatformRead, summary="A platform registration")
async def get_platform(platform_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> Any:
    return PlatformRead.model_validate(await service.managed_platform(session, principal, platform_id))


@router.patch("/v1/lti/platforms/{platform_id}", response_model=PlatformRead,
              summary="Change a registration: deployments, keys, endpoints, or deactivate it")
async def update_platform(platform_id: uuid.UUID, body: PlatformUpdate, request: Request, session: SessionDep,
                          principal: CurrentPrincipal) -> Any:
    return PlatformRead.model_validate(await service.update_platform(session, _settings(request), principal, platform_id, body))


@router.get("/v1/lti/platforms/{platform_id}/scores", response_model=Page[ScoreRead],
            summary="Scores posted (or waiting, or refused) to this platform's line items")
async def list_scores(platform_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, page: PageDep,
                      status: Annotated[Literal["pending", "sent", "failed"] | None, Query()] = None) -> Any:
    platform = await service.managed_platform(session, principal, platform_id)
    return await repository.scores_page(session, platform.id, status, page, ScoreRead.model_validate)


@router.post("/v1/lti/platforms/{platform_id}/scores/redrive", response_model=RedriveResult,
             summary="Send this platform's refused scores again (after fixing its registration)")
async def redrive_scores(platform_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> Any:
    platform = await service.managed_platform(session, principal, platform_id)
    return RedriveResult(requeued=await repository.redrive_scores(session, platform.id, utcnow()))


# -- login and launch -----------------------------------------------------------------------------------------------


async def _login(request: Request, session: Any, params: dict[str, str]) -> Response:
    settings = _settings(request)
    found = await service.start_login(session, settings, params)
    response = RedirectResponse(found.url, status_code=302, headers=NO_STORE)
    secure = urlsplit(settings.public_base_url).scheme == "https"
    # the launch is a cross-site POST from the platform's page: the cookie goes with it only as SameSite=None (which
    # browsers accept only with Secure, i.e. over https); over plain http (development) Lax is the best there is
    response.set_cookie(found.cookie_name, found.cookie_value, max_age=found.max_age, path=link("/v1/lti"), httponly=True,
                        secure=secure, samesite="none" if secure else "lax")
    return response


LOGIN_SUMMARY = "OIDC third-party-initiated login (LTI 1.3 §4.1): redirects to the platform's authorisation endpoint"


@router.get("/v1/lti/login", status_code=302, response_class=RedirectResponse, summary=LOGIN_SUMMARY)
async def login(request: Request, session: SessionDep) -> Response:
    return await _login(request, session, dict(request.query_params.items()))


@router.post("/v1/lti/login", status_code=302, response_class=RedirectResponse, summary=LOGIN_SUMMARY + " (form post)")
async def login_post(request: Request, session: SessionDep) -> Response:
    form = await request.form(max_files=0, max_fields=20)
    return await _login(request, session, dict(request.query_params.items()) | {k: v for k, v in form.items() if isinstance(v, str)})


@router.post("/v1/lti/launch", status_code=303, response_class=RedirectResponse,
             summary="The launch (LTI 1.3 §5.1): the platform's signed id_token, checked, opens a session in the player")
async def launch(request: Request, session: SessionDep, id_token: Annotated[str, Form(max_length=65536)],
                 state: Annotated[str, Form(max_length=200)]) -> Response:
    settings = _settings(request)
    login_state = await service.spend_state(context_of(request).db, settings, state, request.cookies)
    launched = await service.launch(session, settings, _lti(request).platform_keys, login_state, id_token)
    response = RedirectResponse(launched.player_url, status_code=303, headers=NO_STORE | {"Referrer-Policy": "no-referrer"})
    response.delete_cookie(service.cookie_name(login_state.state_hash), path=link("/v1/lti"))
    return response


# -- the player's session ---------------------------------------------------------------------------------------------


async def current_launch(request: Request, session: SessionDep) -> service.Current:
    return await service.current(session, _settings(request), bearer_token(request))


LaunchDep = Annotated[service.Current, Depends(current_launch)]


@router.get("/v1/lti/session", response_model=SessionRead, summary="The launch's session: who, in which role, launched into what")
async def get_session(session: SessionDep, cur: LaunchDep) -> Any:
    return await service.session_read(session, cur)


@router.get("/v1/lti/session/course", summary="The launched course (modules, lessons, quizzes) and the learner's progress")
async def get_course(session: SessionDep, cur: LaunchDep) -> Any:
    return await service.course_view(session, cur)


@router.post("/v1/lti/session/course/lessons/{lesson_id}/progress", response_model=LessonProgressRead,
             summary="The learner opened or completed a lesson of the launched course")
async def record_progress(lesson_id: uuid.UUID, body: ProgressIn, request: Request, session: SessionDep, cur: LaunchDep) -> Any:
    return LessonProgressRead.model_validate(await service.record_progress(session, context_of(request).outbox, cur, lesson_id, body))


@router.post("/v1/lti/session/course/lessons/{lesson_id}/launch", status_code=201, response_model=LaunchRead,
             summary="Launch a lesson of the launched course: its content, the LRS endpoint and Basic credentials for it (as "
                     "the course player's lesson launch; SCORM / cmi5 packages play on the content origin)")
async def launch_lesson(lesson_id: uuid.UUID, ctx: CtxDep, session: SessionDep, cur: LaunchDep) -> Any:
    return await launches.launch(ctx, session, cur.principal, service.enrolment_id(cur), lesson_id)


@router.post("/v1/lti/session/course/quizzes/{quiz_id}/attempts", status_code=201, response_model=AttemptRead,
             summary="Start a quiz attempt (201), or get the open one back (200)")
async def start_attempt(quiz_id: uuid.UUID, session: SessionDep, cur: LaunchDep, response: Response) -> Any:
    attempt, created = await service.start_attempt(session, cur, quiz_id)
    if not created:
        response.status_code = 200
    return await courses.attempt_read(session, attempt)


@router.get("/v1/lti/session/course/attempts/{attempt_id}", response_model=AttemptRead, summary="A quiz attempt of this launch")
async def get_attempt(attempt_id: uuid.UUID, session: SessionDep, cur: LaunchDep) -> Any:
    return await courses.attempt_read(session, await service.attempt_of(session, cur, attempt_id))


@router.post("/v1/lti/session/course/attempts/{attempt_id}/submit", response_model=AttemptRead,
             summary="Submit answers: graded on the server; a completed course sends its score to the platform")
async def submit_attempt(attempt_id: uuid.UUID, body: AttemptSubmit, request: Request, session: SessionDep, cur: LaunchDep) -> Any:
    attempt, results = await service.submit_attempt(session, context_of(request).outbox, cur, attempt_id, body)
    return await courses.attempt_read(session, attempt, results)


@router.get("/v1/lti/session/exam", response_model=ExamView,
            summary="The launched exam and, for a learner, their attempts and (once released) their result")
async def get_exam(session: SessionDep, cur: LaunchDep, now: Now) -> Any:
    return await service.exam_view(session, cur, now)


@router.post("/v1/lti/session/exam/attempts", status_code=201, response_model=ExamAttemptRead,
             summary="Start an attempt at the launched exam (201), or get the running one back (200); within its window")
async def start_exam_attempt(session: SessionDep, cur: LaunchDep, response: Response, now: Now) -> Any:
    attempt, created = await service.start_exam_attempt(session, cur, now)
    if not created:
        response.status_code = 200
    return await service.exam_attempt_read(session, cur, attempt.id, now)


@router.get("/v1/lti/session/exam/attempts/{attempt_id}", response_model=ExamAttemptRead,
            summary="The learner's attempt at the launched exam (scores once released)")
async def get_exam_attempt(attempt_id: uuid.UUID, session: SessionDep, cur: LaunchDep, now: Now) -> Any:
    return await service.exam_attempt_read(session, cur, attempt_id, now)


@router.put("/v1/lti/session/exam/attempts/{attempt_id}/responses/{item_id}", response_model=ExamResponseRead,
            summary="Save an answer (again to change it); after the attempt's deadline: 409")
async def answer_exam_item(attempt_id: uuid.UUID, item_id: uuid.UUID, body: ResponseIn, session: SessionDep, cur: LaunchDep,
                           now: Now) -> Any:
    r = await service.answer_exam_item(session, cur, attempt_id, item_id, body.answer, now)
    return ExamResponseRead(item_id=r.item_id, answer=r.answer, filename=r.filename, first_answered_at=r.first_answered_at,
                            answered_at=r.answered_at, changes=r.changes)


@router.put("/v1/lti/session/exam/attempts/{attempt_id}/responses/{item_id}/file", response_model=ExamResponseRead,
            openapi_extra={"requestBody": {"required": True, "content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}}}},
            summary="A file answer as the raw body (type from its bytes); after the attempt's deadline: 409")
async def exam_file_answer(attempt_id: uuid.UUID, item_id: uuid.UUID, request: Request, now: Now,
                           filename: Annotated[str | None, Query(max_length=255)] = None,
                           content_type: Annotated[str | None, Header()] = None) -> Any:
    """As the exam's own file answer: no transaction is held while the bytes stream; the launch's session and the
    attempt are checked before and again after."""
    settings, db, token = _settings(request), context_of(request).db, bearer_token(request)
    limit = settings.assessment_answer_file_max_bytes
    uploads.early_limit(request, limit)
    async with db.session(write=True) as session:
        cur = await service.current(session, settings, token)
        item = await service.exam_file_target(session, cur, attempt_id, item_id, now)
        families = item.options.get("accept") or uploads.FAMILIES
    prepared = await uploads.receive(request, request.stream(), declared=content_type, limit=limit, families=families)
    try:
        async with db.session(write=True) as session:
            cur = await service.current(session, settings, token)
            blob = await uploads.record(request, session, prepared)
            r = await service.exam_file_answer(session, cur, attempt_id, item_id, blob.id, safe_filename(filename), prepared.media_type,
                                               prepared.incoming.size, context_of(request).now())
            return ExamResponseRead(item_id=r.item_id, answer=r.answer, filename=r.filename, first_answered_at=r.first_answered_at,
                                    answered_at=r.answered_at, changes=r.changes)
    except BaseException:
        await uploads.discard(request, prepared)
        raise


@router.post("/v1/lti/session/exam/attempts/{attempt_id}/submit", response_model=ExamAttemptRead,
             summary="Hand the attempt in (optionally with last answers); after its deadline: 409")
async def submit_exam_attempt(attempt_id: uuid.UUID, session: SessionDep, cur: LaunchDep, now: Now,
                              body: SubmitIn | None = None) -> Any:
    return await service.submit_exam_attempt(session, cur, attempt_id, body or SubmitIn(), now)


@router.get("/v1/lti/session/deep-linking/choices", response_model=list[TargetRead],
            summary="Deep linking: what the instructor may choose (published national courses, the school's own courses and "
                    "exams)")
async def deep_linking_choices(session: SessionDep, cur: LaunchDep) -> Any:
    return await service.choices(session, cur)


@router.post("/v1/lti/session/deep-linking", response_model=DeepLinkResponse,
             summary="Deep linking: the signed LtiDeepLinkingResponse for the chosen items (format=html: the page that posts it)")
async def deep_link(body: DeepLinkChoice, request: Request, session: SessionDep, cur: LaunchDep,
                    format: Annotated[Literal["json", "html"], Query()] = "json") -> Any:
    found = await service.deep_link(session, _settings(request), _lti(request).keys, cur, body)
    if format == "html":
        return HTMLResponse(found.form_html, headers=NO_STORE)
    return found
