"""xAPI 1.0.3 Statement Resource (``/v1/xapi/statements``: POST, PUT, GET with the standard filters, voiding) and
launches that hand content its LRS credentials. Every answer carries ``X-Experience-API-Version``; every request
must send it."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from services.common.auth import CurrentPrincipal
from services.common.db import SessionDep, utcnow
from services.common.errors import AppError, BadRequest, NotFound
from services.common.links import link
from services.learning.courses import repository as course_repository, service as courses
from services.learning.courses.schemas import LaunchRead
from services.learning.xapi import service
from services.learning.xapi.auth import Caller, learner_agent, new_launch, xapi_caller
from services.learning.xapi.service import MAX_LIMIT, VERSION
from services.learning.xapi.validation import Invalid, agent, agent_key, bad_request, timestamp

router = APIRouter(tags=["xapi"])
HEADER = "X-Experience-API-Version"
SINGLE_ONLY = {"statementId", "voidedStatementId"}
FILTERS = {"agent", "verb", "activity", "registration", "since", "until", "limit", "ascending", "related_activities",
           "related_agents", "cursor"}
KNOWN = SINGLE_ONLY | FILTERS | {"format", "attachments"}


@asynccontextmanager
async def _lrs(request: Request) -> AsyncIterator[None]:
    """Errors leave with the version header too; a request without a 1.0.x version header is refused."""
    try:
        sent = request.headers.get(HEADER)
        if not sent:
            raise BadRequest(f"The {HEADER} header is required.", errors=[{"field": HEADER, "in": "header", "message": "required"}])
        if not sent.startswith("1.0"):
            raise BadRequest(f"xAPI version {sent} is not supported; this LRS speaks {VERSION}.",
                             errors=[{"field": HEADER, "in": "header", "message": "only 1.0.x is supported"}])
        yield
    except AppError as exc:
        exc.headers = {**exc.headers, HEADER: VERSION}
        raise


def _json(request_body: bytes) -> Any:
    try:
        return json.loads(request_body)
    except (ValueError, UnicodeDecodeError):
        raise bad_request(Invalid("body", "is not JSON")) from None


def _versioned(response: Response) -> Response:
    response.headers[HEADER] = VERSION
    response.headers["X-Experience-API-Consistent-Through"] = utcnow().isoformat()
    return response


@router.get("/v1/xapi/about", summary="xAPI: the versions this LRS speaks")
async def about() -> Response:
    return _versioned(JSONResponse({"version": [VERSION]}))


COMPLETION_STANDS = "X-Course-Completion-Stands"
VOIDING = ("Voiding a statement that completed a lesson undoes that lesson's completion unless an API call or another "
           "statement not voided completes it too; once the course is completed, its completion and certificate stand: "
           f"the answer then names those enrolments in {COMPLETION_STANDS}.")


def _stands(response: Response, stored: service.Stored) -> Response:
    if stored.completions_stand:
        response.headers[COMPLETION_STANDS] = ",".join(str(e) for e in stored.completions_stand)
    return response


@router.post("/v1/xapi/statements", summary="xAPI: store one statement or a batch (ids returned in order)", description=VOIDING)
async def post_statements(request: Request, session: SessionDep, caller: Annotated[Caller, Depends(xapi_caller)]) -> Response:
    async with _lrs(request):
        body = _json(await request.body())
        statements = body if isinstance(body, list) else [body]
        if not statements:
            raise bad_request(Invalid("body", "an empty batch"))
        stored = await service.store(session, request.app.state.outbox, caller, statements, batch=isinstance(body, list))
        return _stands(_versioned(JSONResponse([str(i) for i in stored.ids])), stored)


@router.put("/v1/xapi/statements", status_code=204, summary="xAPI: store a statement under its id (204; 409 if stored with other content)",
            description=VOIDING)
async def put_statement(request: Request, session: SessionDep, caller: Annotated[Caller, Depends(xapi_caller)]) -> Response:
    async with _lrs(request):
        raw_id = request.query_params.get("statementId")
        if not raw_id:
            raise bad_request(Invalid("statementId", "is required"))
        try:
            statement_id = uuid.UUID(raw_id)
        except ValueError:
            raise bad_request(Invalid("statementId", "must be a UUID")) from None
        body = _json(await request.body())
        if not isinstance(body, dict):
            raise bad_request(Invalid("body", "PUT takes one statement"))
        stored = await service.store(session, request.app.state.outbox, caller, [body], put_id=statement_id)
        return _stands(_versioned(Response(status_code=204)), stored)


def _param_uuid(params: Any, name: str) -> uuid.UUID | None:
    if name not in params:
        return None
    try:
        return uuid.UUID(params[name])
    except ValueError:
        raise bad_request(Invalid(name, "must be a UUID")) from None


@router.get("/v1/xapi/statements", summary="xAPI: one statement (statementId / voidedStatementId) or a filtered page with `more`")
async def get_statements(request: Request, session: SessionDep, caller: Annotated[Caller, Depends(xapi_caller)]) -> Response:
    async with _lrs(request):
        params = request.query_params
        unknown = sorted(set(params) - KNOWN)
        if unknown:
            raise bad_request(Invalid(unknown[0], "is not a parameter of the statements resource"))
        single = [p for p in SINGLE_ONLY if p in params]
        if single:
            if len(single) > 1 or set(params) & (FILTERS - {"cursor"}):
                raise bad_request(Invalid(single[0], "statementId and voidedStatementId take no other filters"))
            sid = _param_uuid(params, single[0])
            assert sid is not None
            return _versioned(JSONResponse(await service.one(session, caller, sid, voided=single[0] == "voidedStatementId")))
        for unsupported in ("related_activities", "related_agents"):
            if params.get(unsupported, "false") not in ("false", "False"):
                raise bad_request(Invalid(unsupported, "is not supported by this LRS"))
        actor = None
        if "agent" in params:
            try:
                actor = agent_key(agent(json.loads(params["agent"]), "agent"))
            except ValueError:
                raise bad_request(Invalid("agent", "must be an Agent or Group as JSON")) from None
            except Invalid as exc:
                raise bad_request(exc) from None
        since = until = None
        try:
            since = timestamp(params["since"], "since") if "since" in params else None
            until = timestamp(params["until"], "until") if "until" in params else None
        except Invalid as exc:
            raise bad_request(exc) from None
        try:
            limit = int(params.get("limit", "100"))
            if limit < 0:
                raise ValueError
        except ValueError:
            raise bad_request(Invalid("limit", "must be a whole number ≥ 0")) from None
        limit = MAX_LIMIT if limit == 0 else min(limit, MAX_LIMIT)
        ascending = params.get("ascending", "false").lower() == "true"
        statements, cursor = await service.query(
            session, caller, agent=actor, verb=params.get("verb"), activity=params.get("activity"),
            registration=_param_uuid(params, "registration"), since=since, until=until, limit=limit, ascending=ascending,
            cursor=params.get("cursor"))
        more = ""
        if cursor:
            kept = [(k, v) for k, v in params.multi_items() if k != "cursor"]
            more = link("/v1/xapi/statements?" + urlencode([*kept, ("cursor", cursor)]))
        return _versioned(JSONResponse({"statements": statements, "more": more}))


@router.post("/v1/enrolments/{enrolment_id}/lessons/{lesson_id}/launch", status_code=201, response_model=LaunchRead,
             summary="Launch a lesson: the LRS endpoint, Basic credentials for the content, actor and registration")
async def launch(enrolment_id: uuid.UUID, lesson_id: uuid.UUID, request: Request, session: SessionDep,
                 principal: CurrentPrincipal) -> Any:
    enrolment, course = await courses.active_enrolment(session, principal, enrolment_id)
    lesson = next((x for x in await course_repository.lessons(session, course.id) if x.id == lesson_id), None)
    if lesson is None:
        raise NotFound(f"No lesson {lesson_id} in this course.")
    await courses.apply_progress(session, request.app.state.outbox, enrolment, course, lesson_id, "opened", 0)
    row, auth = await new_launch(request, session, enrolment, lesson_id)
    base = request.app.state.settings.public_service_url.rstrip("/")
    content = {
        "package": f"{base}/v1/learning-objects/{lesson.learning_object_id}/launch?version={lesson.learning_object_version}",
        "learning_object": f"{base}/v1/learning-objects/{lesson.learning_object_id}/versions/{lesson.learning_object_version}",
    }.get(lesson.kind)
    return LaunchRead(content_url=content, endpoint=f"{base}/v1/xapi/", auth=auth, actor=learner_agent(enrolment), registration=enrolment.id,
                      activity_id=courses.activity_id(lesson_id), expires_at=row.expires_at)

