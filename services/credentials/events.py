"""Events this service receives (through the kit's ``/v1/events``, in the receiving transaction): a learner
graduated (records) → a diploma or certificate; a course completed (learning) → a course certificate. Each becomes
a one-item issuing job, so the event is stored at once and its problems, if any, stay visible on the job."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.auth import bearer_token
from services.common.errors import PROBLEM_JSON, AppError, Forbidden, PayloadTooLarge, Unauthorized, problem_body
from services.common.events import EventHandler
from services.common.limits import BodyTooLarge, loads, read_body, replaying
from services.common.models import InboxEvent
from services.credentials.issuing import sealing
from services.credentials.jobs import service as jobs

GRADUATED = "vn.vet.records.learner.graduated"
COURSE_COMPLETED = "vn.vet.learning.course.completed"

LEVELS = {"trung_cap": "intermediate", "trung cấp": "intermediate", "cao_dang": "college", "cao đẳng": "college",
          "so_cap": "elementary", "sơ cấp": "elementary"}
#: records' values (``work_study``, ``xuat_sac`` …) and the Vietnamese labels, to this service's vocabulary
MODES = {"work_study": "part_time", "chính quy": "full_time", "chinh_quy": "full_time", "vừa làm vừa học": "part_time",
         "vua_lam_vua_hoc": "part_time"}
CLASSIFICATIONS = {"xuat_sac": "excellent", "gioi": "very_good", "kha": "good", "trung_binh": "average",
                   "xuất sắc": "excellent", "giỏi": "very_good", "khá": "good", "trung bình": "average"}


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _term(table: dict[str, str], value: Any) -> Any:
    """A sender's term in this service's vocabulary; anything not a known string is kept as it is."""
    return table.get(value.strip().lower(), value) if isinstance(value, str) else value


def _object(value: Any) -> dict[str, Any]:
    """A part of a received event that should be an object; anything else counts as absent (the issuing input's
    validation then names what is missing)."""
    return value if isinstance(value, dict) else {}


def graduated_payload(data: dict[str, Any]) -> dict[str, Any]:
    programme = _object(data.get("programme"))
    graduation = _object(data.get("graduation"))
    holder = _object(data.get("holder"))
    level = _term(LEVELS, programme.get("level"))
    mode = graduation.get("mode")
    classification = graduation.get("classification")
    return _clean({
        "institution_code": data.get("institution_code"),
        "kind": "diploma" if level in ("intermediate", "college") else "certificate",
        "level": level,
        "person_id": data.get("person_id"),
        "learner_id": str(data["learner_id"]) if data.get("learner_id") is not None else None,
        "holder": _clean({
            "full_name": holder.get("full_name"), "date_of_birth": holder.get("birth_date") or holder.get("date_of_birth"),
            "gender": holder.get("gender"), "birth_place": holder.get("birth_place"), "id_number": holder.get("id_number"),
            sealing.SEALED: holder.get(sealing.SEALED),
        }),
        "achievement": _clean({
            "code": programme.get("code"), "name": programme.get("occupation_name") or programme.get("name"),
            "occupation_code": programme.get("occupation_code"), "occupation_name": programme.get("occupation_name"),
            "credits": programme.get("credits"),
        }),
        "graduation": _clean({
            "year": graduation.get("year"), "decision_number": graduation.get("decision_number"),
            "decision_date": graduation.get("decision_date"), "mode": _term(MODES, mode),
            "gpa": graduation.get("gpa"), "classification": _term(CLASSIFICATIONS, classification),
        }),
        sealing.FINGERPRINT: data.get(sealing.FINGERPRINT),
    })


def course_payload(data: dict[str, Any], platform_issuer: str) -> dict[str, Any]:
    completed = data.get("completed_at") or data.get("completion_time")
    year = None
    if isinstance(completed, str):
        try:
            year = datetime.fromisoformat(completed.replace("Z", "+00:00")).year
        except ValueError:
            year = None
    return _clean({
        "institution_code": data.get("institution_code") or platform_issuer,
        "kind": "course_certificate",
        "level": "course",
        "person_id": data.get("person_id"),
        # a learner without a person record (a staff account) is named by the account: learner_id "account:<id>"
        "learner_id": str(data["learner_id"]) if data.get("learner_id") is not None else None,
        "holder": data.get("holder"),
        "achievement": _clean({
            "code": str(data["course_id"]) if data.get("course_id") is not None else None,
            "name": data.get("title"), "version": str(data["version"]) if data.get("version") is not None else None,
            "skill_area": data.get("skill_area"), "hours": data.get("hours"),
        }),
        "graduation": _clean({"year": year, "completed_at": completed, "final_score": data.get("final_score")}),
        sealing.FINGERPRINT: data.get(sealing.FINGERPRINT),
    })


def payload_of(event_type: Any, data: dict[str, Any], platform_issuer: str) -> dict[str, Any] | None:
    """The issuing input an event of ``event_type`` asks for (None for other types)."""
    if event_type == GRADUATED:
        return graduated_payload(data)
    if event_type == COURSE_COMPLETED:
        return course_payload(data, platform_issuer)
    return None


def seal_event(event: dict[str, Any], secret_key: str, platform_issuer: str) -> bool:
    """Seals the holder's personal ID number of a received CloudEvent, in place, before anything stores it (see
    ``issuing/sealing.py``): the salt is derived from the event id, so a redelivery is sealed to the same bytes.
    True when something was sealed."""
    data = event.get("data")
    holder = data.get("holder") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(holder, dict) or holder.get("id_number") is None:
        return False
    try:
        payload = payload_of(event.get("type"), data, platform_issuer)
    except (TypeError, ValueError, AttributeError):
        payload = None  # an input no issuing could take: the number is sealed all the same
    fingerprint = sealing.fingerprint_of_payload(secret_key, payload) if payload is not None else None
    person = (payload or {}).get("holder")
    person = person if isinstance(person, dict) else {}
    sealing.seal_holder(holder, sealing.derived_salt(secret_key, str(event.get("id"))),
                        date_of_birth=person.get("date_of_birth"), gender=person.get("gender"))
    if fingerprint is not None:
        data[sealing.FINGERPRINT] = fingerprint
    return True


_UNSTORABLE = re.compile("[\u0000\ud800-\udfff]")


def unstorable(node: Any, path: str = "") -> list[dict[str, str]]:
    """Strings of a received event that no database here can keep (U+0000, refused by PostgreSQL's jsonb; an
    unpaired surrogate, which is not a Unicode character), each named by its path: such an event is refused at
    once, for good (422), instead of failing to be stored on every redelivery."""
    found: list[dict[str, str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if _UNSTORABLE.search(str(key)):
                found.append({"field": where, "message": "the key contains U+0000 or an unpaired surrogate"})
            found.extend(unstorable(value, where))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(unstorable(value, f"{path}.{i}"))
    elif isinstance(node, str) and (m := _UNSTORABLE.search(node)) is not None:
        found.append({"field": path, "message": f"contains U+{ord(m.group()):04X} (character {m.start() + 1}), which cannot be "
                                                "stored (U+0000 and unpaired surrogates are refused)"})
    return found


class SealIdNumbers:
    """Pure ASGI middleware in front of the event receiver (``POST /v1/events``, outside the Idempotency-Key
    store, which keeps a digest of the body): the body reaches the kit's receiver — the inbox row, the job, any log
    line — with the holder's ID number already replaced by its salted hash. The sender is authenticated first
    (a token with ``events:deliver``, as the receiver asks): nobody else's body is read, let alone parsed."""

    MAX_BODY = 4 * 1024 * 1024

    def __init__(self, app: ASGIApp, secret_key: str, platform_issuer: str) -> None:
        self.app = app
        self.secret_key = secret_key
        self.platform_issuer = platform_issuer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/v1/events":
            await self.app(scope, receive, send)
            return
        try:
            await self._authenticate(scope)
        except AppError as exc:
            await _problem(exc, scope, send)
            return
        try:
            body = await read_body(receive, self.MAX_BODY)
        except BodyTooLarge:
            await _problem(PayloadTooLarge("An event is at most 4 MiB.", errors=[
                {"field": "body", "in": "body", "message": f"larger than {self.MAX_BODY} bytes"}]), scope, send)
            return
        if body is None:
            return
        try:
            event = loads(body)
        except AppError:
            event = None  # the receiver reports it, naming the field
        if isinstance(event, dict) and (bad := unstorable(event)):
            fields = ", ".join(e["field"] for e in bad[:20])
            await JSONResponse(problem_body(422, "Validation failed", f"The event cannot be stored: {fields}", slug="validation",
                                            instance=scope["path"], errors=bad[:100]),
                               status_code=422, media_type=PROBLEM_JSON)(scope, receive, send)
            return
        if isinstance(event, dict) and seal_event(event, self.secret_key, self.platform_issuer):
            body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
            scope = dict(scope)
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"content-length"] + [
                (b"content-length", str(len(body)).encode())]
        await self.app(scope, replaying(body, receive), send)

    @staticmethod
    async def _authenticate(scope: Scope) -> None:
        """As the receiver's own dependency does (it checks again): a valid token carrying ``events:deliver``."""
        request = Request(scope)
        token = bearer_token(request)
        if token is None:
            raise Unauthorized("A bearer token is required.")
        principal = await request.app.state.verifier.verify(token)
        if not principal.has_scope("events:deliver"):
            raise Forbidden("This call needs the scope(s): events:deliver.", missing_scopes=["events:deliver"])


async def _problem(exc: AppError, scope: Scope, send: Send) -> None:
    body = problem_body(exc.status, exc.title, exc.detail, slug=exc.slug, instance=scope.get("path"), errors=exc.errors,
                        **exc.extensions)
    await JSONResponse(body, status_code=exc.status, media_type=PROBLEM_JSON, headers=exc.headers)(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


def handlers(platform_issuer: str) -> dict[str, EventHandler]:
    async def on_graduated(session: AsyncSession, event: InboxEvent) -> None:
        payload = graduated_payload(event.data)
        await jobs.create_from_event(session, event.id, str(payload.get("institution_code") or "?"), payload)

    async def on_course_completed(session: AsyncSession, event: InboxEvent) -> None:
        payload = course_payload(event.data, platform_issuer)
        await jobs.create_from_event(session, event.id, str(payload.get("institution_code")), payload)

    return {GRADUATED: on_graduated, COURSE_COMPLETED: on_course_completed}
