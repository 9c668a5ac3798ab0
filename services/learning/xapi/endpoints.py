"""xAPI 1.0.3 Statement Resource (``/v1/xapi/statements``: POST, PUT, GET with the standard filters, voiding), State
Resource (``/v1/xapi/activities/state``) and launches that hand content its LRS credentials (for cmi5 lessons also a
fetch URL, the launch URL and ``LMS.LaunchData``). Every LRS answer carries ``X-Experience-API-Version``; every LRS
request must send it (the cmi5 fetch URL is not the LRS: it answers in cmi5's own format)."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.utils import format_datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from services.common.auth import CurrentPrincipal
from services.common.db import SessionDep, utcnow
from services.common.errors import AppError, BadRequest, NotFound, PayloadTooLarge
from services.common.links import link
from services.learning.context import CtxDep, LearningContext
from services.learning.courses.schemas import LaunchRead
from services.learning.xapi import launches, service, state
from services.learning.xapi.auth import Caller, FetchRefused, fetch_token, xapi_caller
from services.learning.xapi.service import MAX_LIMIT, VERSION
from services.learning.xapi.validation import Invalid, agent, agent_key, bad_request, iri, timestamp

router = APIRouter(tags=["xapi"])
log = logging.getLogger(__name__)
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
async def post_statements(request: Request, ctx: CtxDep, session: SessionDep, caller: Annotated[Caller, Depends(xapi_caller)]) -> Response:
    async with _lrs(request):
        body = _json(await request.body())
        statements = body if isinstance(body, list) else [body]
        if not statements:
            raise bad_request(Invalid("body", "an empty batch"))
        stored = await service.store(session, ctx.outbox, caller, statements, batch=isinstance(body, list))
        return _stands(_versioned(JSONResponse([str(i) for i in stored.ids])), stored)


@router.put("/v1/xapi/statements", status_code=204, summary="xAPI: store a statement under its id (204; 409 if stored with other content)",
            description=VOIDING)
async def put_statement(request: Request, ctx: CtxDep, session: SessionDep, caller: Annotated[Caller, Depends(xapi_caller)]) -> Response:
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
        stored = await service.store(session, ctx.outbox, caller, [body], put_id=statement_id)
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
             summary="Launch a lesson: the LRS endpoint, Basic credentials for the content, actor and registration; for a cmi5 "
                     "assignable unit also the one-time fetch URL and the ready launch URL (LMS.LaunchData written)")
async def launch(enrolment_id: uuid.UUID, lesson_id: uuid.UUID, ctx: CtxDep, session: SessionDep,
                 principal: CurrentPrincipal) -> Any:
    return await launches.launch(ctx, session, principal, enrolment_id, lesson_id)


NO_STORE = {"Cache-Control": "no-store"}


@router.post("/v1/xapi/cmi5/fetch/{launch_id}", summary="cmi5 fetch URL: the auth-token of a launch, once (no credentials: the "
             "URL carries a one-time secret)", response_description='{"auth-token": …}; afterwards, or for an expired launch, '
             '{"error-code": "1", …}; a wrong secret "2"; a failure "3" — all with status 200, as cmi5 §8.2 requires')
async def cmi5_fetch(launch_id: str, request: Request, ctx: CtxDep, session: SessionDep) -> Response:
    try:
        token = await fetch_token(ctx, session, launch_id, request.query_params.get("k", ""))
    except FetchRefused as exc:
        return JSONResponse({"error-code": str(exc.code), "error-text": exc.text}, headers=NO_STORE)
    except Exception:  # cmi5 §8.2.3.2 code 3: the AU gets cmi5's error body, not a problem document
        log.exception("cmi5 fetch failed")
        await session.rollback()
        return JSONResponse({"error-code": "3", "error-text": "The token could not be issued; launch the lesson again."}, headers=NO_STORE)
    return JSONResponse({"auth-token": token}, headers=NO_STORE)


# -- State Resource --------------------------------------------------------------------------------------------------

STATE = "/v1/xapi/activities/state"
STATE_DOC = ("Parameters activityId (IRI), agent (JSON Agent), registration (UUID, optional), stateId. Launch credentials "
             "reach only their learner's documents in their registration (403 otherwise); a bearer token its own agent's. "
             "ETag on every document; If-Match / If-None-Match checked on writes (412). LMS.LaunchData is written at "
             "launch and read-only here.")


def _scope(params: Any, *, state_id_required: bool) -> tuple[state.Scope, str | None]:
    try:
        activity = iri(params.get("activityId"), "activityId")
    except Invalid as exc:
        raise state.invalid(exc.field, "is required and must be an absolute IRI") from None
    if "agent" not in params:
        raise state.invalid("agent", "is required (an Agent as JSON)")
    try:
        who = agent_key(agent(json.loads(params["agent"]), "agent"))
    except ValueError:
        raise state.invalid("agent", "must be an Agent or Group as JSON") from None
    except Invalid as exc:
        raise state.invalid(exc.field, exc.message) from None
    try:
        registration = _param_uuid(params, "registration")
    except AppError:
        raise state.invalid("registration", "must be a UUID") from None
    state_id = params.get("stateId")
    if state_id is not None and not 0 < len(state_id) <= state.MAX_STATE_ID:
        raise state.invalid("stateId", f"must have 1 to {state.MAX_STATE_ID} characters")
    if state_id is None and state_id_required:
        raise state.invalid("stateId", "is required")
    return state.Scope(activity_id=activity, agent_key=who, registration=registration), state_id


async def _document_body(request: Request, ctx: LearningContext) -> bytes:
    limit = ctx.settings.xapi_state_max_bytes
    too_large = PayloadTooLarge(f"A State document holds at most {limit} bytes.",
                                errors=[{"field": "body", "in": "body", "message": f"larger than {limit} bytes"}])
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


def _preconditions(request: Request) -> dict[str, str | None]:
    return {"if_match": request.headers.get("if-match"), "if_none_match": request.headers.get("if-none-match")}


@router.get(STATE, summary="xAPI State: one document (stateId) or the stateIds stored (optionally `since`)", description=STATE_DOC)
async def get_state(request: Request, session: SessionDep, caller: Annotated[Caller, Depends(xapi_caller)]) -> Response:
    async with _lrs(request):
        scope, state_id = _scope(request.query_params, state_id_required=False)
        state.authorise(caller, scope, state_id, write=False)
        if state_id is None:
            try:
                since = timestamp(request.query_params["since"], "since") if "since" in request.query_params else None
            except Invalid as exc:
                raise state.invalid(exc.field, exc.message) from None
            return _versioned(JSONResponse(await state.state_ids(session, scope, since)))
        doc = await state.get(session, scope, state_id)
        if doc is None:
            raise NotFound(f"No State document {state_id!r} for this activity, agent and registration.")
        headers = {"ETag": doc.etag, "Last-Modified": format_datetime(doc.updated_at, usegmt=True)}
        if_none_match = request.headers.get("if-none-match")
        if if_none_match is not None and state.tags(if_none_match) & {doc.etag, "*"}:
            return _versioned(Response(status_code=304, headers=headers))
        return _versioned(Response(doc.content, headers=headers | {"Content-Type": doc.content_type}))


@router.put(STATE, status_code=204, summary="xAPI State: store a document in place of any other (204)", description=STATE_DOC)
async def put_state(request: Request, ctx: CtxDep, session: SessionDep, caller: Annotated[Caller, Depends(xapi_caller)]) -> Response:
    async with _lrs(request):
        scope, state_id = _scope(request.query_params, state_id_required=True)
        assert state_id is not None
        state.authorise(caller, scope, state_id, write=True)
        body = await _document_body(request, ctx)
        etag = await state.put(session, scope, state_id, request.headers.get("content-type") or "application/octet-stream", body,
                               utcnow(), **_preconditions(request))
        return _versioned(Response(status_code=204, headers={"ETag": etag}))


@router.post(STATE, status_code=204, summary="xAPI State: merge a JSON object into the document (400 unless both are JSON objects)",
             description=STATE_DOC)
async def post_state(request: Request, ctx: CtxDep, session: SessionDep, caller: Annotated[Caller, Depends(xapi_caller)]) -> Response:
    async with _lrs(request):
        scope, state_id = _scope(request.query_params, state_id_required=True)
        assert state_id is not None
        state.authorise(caller, scope, state_id, write=True)
        body = await _document_body(request, ctx)
        etag = await state.merge(session, scope, state_id, request.headers.get("content-type") or "", body, utcnow(),
                                 ctx.settings.xapi_state_max_bytes, **_preconditions(request))
        return _versioned(Response(status_code=204, headers={"ETag": etag}))


@router.delete(STATE, status_code=204, summary="xAPI State: delete one document (stateId) or all of the activity, agent and registration",
               description=STATE_DOC + " Deleting all keeps LMS.LaunchData.")
async def delete_state(request: Request, session: SessionDep, caller: Annotated[Caller, Depends(xapi_caller)]) -> Response:
    async with _lrs(request):
        scope, state_id = _scope(request.query_params, state_id_required=False)
        state.authorise(caller, scope, state_id, write=True)
        if state_id is None:
            await state.remove_all(session, scope, keep=frozenset({state.LAUNCH_DATA}))
        else:
            await state.remove(session, scope, state_id, **_preconditions(request))
        return _versioned(Response(status_code=204))
