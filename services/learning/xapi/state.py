"""xAPI 1.0.3 State Resource (Part 3, §2.3 and the document resources of §2.2): documents an activity keeps about an
agent, optionally within a registration, each under a ``stateId``.

* Documents are kept as sent (bytes and content type); PUT replaces, POST merges two JSON objects (top-level keys of
  the posted object win) and refuses anything else with 400, DELETE removes one or all of a scope.
* Concurrency: every document has an ETag (quoted SHA-256 of its bytes); ``If-Match`` / ``If-None-Match`` are
  checked on PUT, POST and DELETE (412 when they fail) and ``If-None-Match`` on GET (304).
* Who: a launch's Basic credentials reach only documents about that launch's learner in that launch's registration;
  a bearer token only its own agent's (officers who see every statement may also read any). ``LMS.LaunchData`` is
  the platform's (cmi5 §10): written at launch, read-only through the API (deleting all of a scope keeps it).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import delete, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import insert_for
from services.common.errors import BadRequest, Forbidden, PayloadTooLarge, PreconditionFailed
from services.learning.models import XapiState
from services.learning.xapi.auth import Caller

LAUNCH_DATA = "LMS.LaunchData"
JSON_TYPE = "application/json"
MAX_STATE_ID = 500


def invalid(field: str, message: str, where: str = "query") -> BadRequest:
    return BadRequest(f"{field}: {message}.", errors=[{"field": field, "in": where, "message": message}])


@dataclass(frozen=True)
class Scope:
    """The documents listed and deleted together: one activity, one agent, one registration (or none)."""

    activity_id: str
    agent_key: str
    registration: uuid.UUID | None

    @property
    def hash(self) -> str:
        return hashlib.sha256(f"{self.activity_id}\n{self.agent_key}\n{self.registration or ''}".encode()).hexdigest()


def etag_of(content: bytes) -> str:
    return f'"{hashlib.sha256(content).hexdigest()}"'


def is_json(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == JSON_TYPE


def authorise(caller: Caller, scope: Scope, state_id: str | None, *, write: bool) -> None:
    if write and state_id == LAUNCH_DATA:
        raise Forbidden(f"{LAUNCH_DATA} is written by the platform at launch; content may only read it.")
    if caller.launch is not None:
        if scope.agent_key not in caller.agents:
            raise Forbidden("These launch credentials reach only the launched learner's documents.", field="agent")
        if scope.registration != caller.launch.enrolment_id:
            raise Forbidden("These launch credentials reach only documents of the launch's registration.", field="registration")
        return
    if scope.agent_key not in caller.agents and not (caller.sees_all and not write):
        raise Forbidden("You may only reach your own agent's documents.", field="agent")


def tags(header: str) -> set[str]:
    return {t.strip().removeprefix("W/") for t in header.split(",") if t.strip()}


def check_preconditions(existing: XapiState | None, if_match: str | None, if_none_match: str | None) -> None:
    if if_match is not None:
        wanted = tags(if_match)
        if existing is None or ("*" not in wanted and existing.etag not in wanted):
            raise PreconditionFailed("If-Match does not match the document's current ETag (or there is no document); "
                                     "read it again and retry.", etag=existing.etag if existing else None)
    if if_none_match is not None and existing is not None:
        unwanted = tags(if_none_match)
        if "*" in unwanted or existing.etag in unwanted:
            raise PreconditionFailed("If-None-Match: the document exists already (or has that ETag).", etag=existing.etag)


async def get(session: AsyncSession, scope: Scope, state_id: str) -> XapiState | None:
    return (await session.scalars(select(XapiState).where(XapiState.scope_hash == scope.hash, XapiState.state_id == state_id))).first()


async def _locked(session: AsyncSession, scope: Scope, state_id: str) -> XapiState | None:
    stmt = select(XapiState).where(XapiState.scope_hash == scope.hash, XapiState.state_id == state_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt.execution_options(populate_existing=True))).first()


async def state_ids(session: AsyncSession, scope: Scope, since: datetime | None) -> list[str]:
    stmt = select(XapiState.state_id).where(XapiState.scope_hash == scope.hash)
    if since is not None:
        stmt = stmt.where(XapiState.updated_at > since)
    return list((await session.scalars(stmt.order_by(XapiState.state_id))).all())


async def _insert(session: AsyncSession, scope: Scope, state_id: str, content_type: str, content: bytes, now: datetime) -> bool:
    """Stores a new document; False if one appeared meanwhile (a concurrent writer on PostgreSQL)."""
    stmt = insert_for(session)(XapiState).values(
        id=uuid.uuid4(), scope_hash=scope.hash, activity_id=scope.activity_id, agent_key=scope.agent_key,
        registration=scope.registration, state_id=state_id, content_type=content_type, content=content, size=len(content),
        etag=etag_of(content), updated_at=now).on_conflict_do_nothing(index_elements=["scope_hash", "state_id"])
    result = cast("CursorResult[Any]", await session.execute(stmt))  # an INSERT's result has a rowcount
    return result.rowcount == 1


async def _replace(session: AsyncSession, row: XapiState, content_type: str, content: bytes, now: datetime) -> None:
    await session.execute(update(XapiState).where(XapiState.id == row.id).values(
        content_type=content_type, content=content, size=len(content), etag=etag_of(content), updated_at=now))


def _object(content_type: str, content: bytes, field: str) -> dict[str, Any]:
    if not is_json(content_type):
        raise invalid(field, f"POST merges JSON objects only; this document's Content-Type is {content_type or 'not given'}",
                      "body" if field == "body" else "query")
    try:
        value = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        value = None
    if not isinstance(value, dict):
        raise invalid(field, "POST merges JSON objects only; this document is not a JSON object",
                      "body" if field == "body" else "query")
    return value


def check_json(content_type: str, content: bytes) -> None:
    """A document sent as JSON must be JSON."""
    if is_json(content_type):
        try:
            json.loads(content)
        except (ValueError, UnicodeDecodeError):
            raise invalid("body", "is sent as application/json but is not JSON", "body") from None


async def put(session: AsyncSession, scope: Scope, state_id: str, content_type: str, content: bytes, now: datetime, *,
              if_match: str | None = None, if_none_match: str | None = None) -> str:
    """Stores the document in place of any other; its new ETag."""
    check_json(content_type, content)
    for _ in range(2):
        existing = await _locked(session, scope, state_id)
        check_preconditions(existing, if_match, if_none_match)
        if existing is not None:
            await _replace(session, existing, content_type, content, now)
            return etag_of(content)
        if await _insert(session, scope, state_id, content_type, content, now):
            return etag_of(content)
    raise AssertionError("a State document appeared and vanished while it was written")


async def merge(session: AsyncSession, scope: Scope, state_id: str, content_type: str, content: bytes, now: datetime,
                max_bytes: int, *, if_match: str | None = None, if_none_match: str | None = None) -> str:
    """POST: the posted JSON object's top-level properties over the stored object's (stored as sent if none)."""
    posted = _object(content_type, content, "body")
    for _ in range(2):
        existing = await _locked(session, scope, state_id)
        check_preconditions(existing, if_match, if_none_match)
        if existing is None:
            if await _insert(session, scope, state_id, JSON_TYPE, content, now):
                return etag_of(content)
            continue
        stored = _object(existing.content_type, existing.content, "stateId")
        merged = json.dumps(stored | posted, ensure_ascii=False, separators=(",", ":")).encode()
        if len(merged) > max_bytes:
            raise PayloadTooLarge(f"The merged document would be larger than {max_bytes} bytes.", errors=[
                {"field": "body", "in": "body", "message": f"the merged document exceeds {max_bytes} bytes"}])
        await _replace(session, existing, JSON_TYPE, merged, now)
        return etag_of(merged)
    raise AssertionError("a State document appeared and vanished while it was merged")


async def remove(session: AsyncSession, scope: Scope, state_id: str, *, if_match: str | None = None,
                 if_none_match: str | None = None) -> None:
    existing = await _locked(session, scope, state_id)
    check_preconditions(existing, if_match, if_none_match)
    if existing is not None:
        await session.execute(delete(XapiState).where(XapiState.id == existing.id))


async def remove_all(session: AsyncSession, scope: Scope, *, keep: frozenset[str] = frozenset()) -> None:
    stmt = delete(XapiState).where(XapiState.scope_hash == scope.hash)
    if keep:
        stmt = stmt.where(XapiState.state_id.not_in(keep))
    await session.execute(stmt)
