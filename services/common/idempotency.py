"""``Idempotency-Key`` for POST, as a pure ASGI middleware.

A key belongs to an authenticated caller: the middleware verifies the bearer token itself (the same verifier the
endpoints use) and namespaces the key by the verified principal (issuer, kind, subject). Anonymous callers, callers
whose token does not verify, HTTP Basic callers and the paths given as ``exempt`` (the token endpoint, sign-in) get
no idempotency at all: their request simply runs, and nothing is stored or replayed for them. A token the
middleware did not verify never names anyone.

The first request with a key runs; its response (status, headers, body) is stored and replayed for every later
request by the same principal with the same key and the same request — method, path and query, the headers that
change what the request means (``Content-Type``, ``Content-Encoding``, ``Accept``, ``If-Match``,
``If-None-Match``) and the body. The same key with another request is a 409 problem. While the first request is
still running a repeat gets 409 with ``Retry-After``; if the first request's process died, its lease expires and
the repeat runs again (our writes are upserts on natural keys, so running again is safe). The request body is
spooled to a temporary file past 1 MiB while it is hashed, never held whole in memory. Responses that say nothing
about the request (401, 403, 408, 429, 5xx) are not stored. The outcome is recorded before the response's last
bytes go out, so a repeat sent the moment the first answer arrives finds it.

A response that carries a secret says so with ``Cache-Control: no-store`` (RFC 9111; OAuth token responses must);
its body and headers are never stored. The key is remembered as used: a repeat gets a 409 problem
(``idempotency-response-withheld``) naming the first status, never the secret, and the request does not run twice.

A key is remembered for a retention period (``idempotency_retention_hours``, a week by default: a school's system
retrying a term-end upload after a weekend outage still gets its first response); :func:`purge_worker` then deletes it
in small batches, and the same key afterwards starts a new request. The table thus holds about a week of keyed
writes instead of growing for ever.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import tempfile
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.auth import Principal, TokenVerifier
from services.common.db import Database, utcnow
from services.common.errors import PROBLEM_JSON, AppError, problem_body
from services.common.models import IdempotencyRecord
from services.common.retry import RetryPolicy
from services.common.worker import LeasedWorker

log = logging.getLogger("services.idempotency")

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
SPOOL_BYTES = 1024 * 1024
MAX_STORED_BODY = 4 * 1024 * 1024
NOT_STORED = {401, 403, 408, 429}
_HOP_HEADERS = {b"content-length", b"x-request-id", b"date", b"server", b"transfer-encoding", b"connection"}
#: request headers that change what a request means: part of its fingerprint
FINGERPRINT_HEADERS = (b"content-type", b"content-encoding", b"accept", b"if-match", b"if-none-match")
#: a stored key whose first response carried a secret: remembered, never replayed
WITHHELD = "withheld"


def principal_key(principal: Principal) -> str:
    """The namespace of a verified caller's keys."""
    return f"{principal.kind}:{principal.sub}@{principal.claims.get('iss', '')}"[:200]


def _bearer(headers: dict[bytes, bytes]) -> str | None:
    scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _no_store(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    return any(k.lower() == b"cache-control" and b"no-store" in v.lower() for k, v in headers)


async def _send_problem(send: Send, status: int, title: str, detail: str, slug: str, path: str, extra_headers: list[tuple[bytes, bytes]] | None = None, **ext: Any) -> None:
    body = json.dumps(problem_body(status, title, detail, slug=slug, instance=path, **ext), ensure_ascii=False).encode()
    headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())] + (extra_headers or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, db_getter: Callable[[], Database], verifier_getter: Callable[[], TokenVerifier],
                 lease_seconds: float = 120.0, secret: bytes = b"", exempt: Iterable[str] = ()) -> None:
        self.app = app
        self._db_getter = db_getter
        self._verifier_getter = verifier_getter
        self.lease = timedelta(seconds=lease_seconds)
        #: the fingerprint of a request is keyed (HMAC-SHA256 with the service's secret): a body may hold a personal
        #: ID number, which a plain hash in the database would give away to anyone trying the few likely numbers
        self._secret = secret
        #: exact paths never handled (endpoints that authenticate callers or hand out credentials)
        self._exempt = frozenset(exempt)

    async def _verified(self, headers: dict[bytes, bytes]) -> Principal | None:
        token = _bearer(headers)
        if token is None:
            return None
        try:
            return await self._verifier_getter().verify(token)
        except AppError:
            return None  # the endpoint refuses it with the reason; nothing is stored or replayed for it

    def fingerprint(self, principal: str, scope: Scope, headers: dict[bytes, bytes]) -> Any:
        """The running HMAC of a request, before its body: principal, method, path and query, meaningful headers."""
        digest = hmac.new(self._secret, digestmod=hashlib.sha256)
        digest.update(f"{principal}\n{scope['method']} {scope.get('path', '')}?{scope.get('query_string', b'').decode('latin-1')}\n".encode())
        for name in FINGERPRINT_HEADERS:
            digest.update(name + b": " + headers.get(name, b"") + b"\n")
        return digest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("path", "") in self._exempt:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_key = headers.get(b"idempotency-key")
        if raw_key is None or _bearer(headers) is None:
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        key = raw_key.decode("latin-1").strip()
        if not _KEY.match(key):
            await _send_problem(
                send, 400, "Bad request", "Idempotency-Key must be 1–255 visible ASCII characters.", "bad-request", path,
                errors=[{"field": "Idempotency-Key", "in": "header", "message": "invalid idempotency key"}],
            )
            return
        verified = await self._verified(headers)
        if verified is None:
            await self.app(scope, receive, send)
            return
        db: Database = self._db_getter()
        principal = principal_key(verified)
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
        try:
            digest = self.fingerprint(principal, scope, headers)
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                if chunk:
                    digest.update(chunk)
                    spool.write(chunk)
                if not message.get("more_body", False):
                    break
            fingerprint = digest.hexdigest()

            verdict = await self._claim(db, principal, key, fingerprint, scope["method"], path)
            if isinstance(verdict, IdempotencyRecord):
                if verdict.state == WITHHELD:
                    await _send_problem(
                        send, 409, "Conflict",
                        f"A request with this Idempotency-Key already succeeded ({verdict.status_code}); its response "
                        "carried a secret, which is never stored, so it cannot be replayed. Look the result up instead.",
                        "idempotency-response-withheld", path, first_status=verdict.status_code,
                        errors=[{"field": "Idempotency-Key", "in": "header", "message": "already used; response not kept"}],
                    )
                    return
                await self._replay(send, verdict)
                return
            if verdict == "mismatch":
                await _send_problem(
                    send, 409, "Conflict",
                    "This Idempotency-Key was already used with a different request.", "idempotency-key-reused", path,
                    errors=[{"field": "Idempotency-Key", "in": "header", "message": "key reused with another request"}],
                )
                return
            if verdict == "busy":
                await _send_problem(
                    send, 409, "Conflict", "A request with this Idempotency-Key is still being processed; retry shortly.",
                    "idempotency-in-progress", path, extra_headers=[(b"retry-after", b"2")],
                )
                return

            spool_size = spool.tell()
            spool.seek(0)
            body_done = False

            async def replay_receive() -> Message:
                nonlocal body_done
                if body_done:
                    return await receive()  # after the body: wait for the client's disconnect, as usual
                chunk = spool.read(64 * 1024)
                more = spool.tell() < spool_size
                body_done = not more
                return {"type": "http.request", "body": chunk, "more_body": more}

            captured: dict[str, Any] = {"status": None, "headers": [], "body": bytearray(), "too_big": False, "secret": False}
            last: list[Message] = []

            async def capture_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    captured["status"] = message["status"]
                    raw = message.get("headers", [])
                    captured["secret"] = _no_store(raw)
                    if not captured["secret"]:
                        captured["headers"] = [
                            [k.decode("latin-1"), v.decode("latin-1")] for k, v in raw if k.lower() not in _HOP_HEADERS
                        ]
                elif message["type"] == "http.response.body" and not captured["too_big"] and not captured["secret"]:
                    captured["body"].extend(message.get("body", b""))
                    if len(captured["body"]) > MAX_STORED_BODY:
                        captured["too_big"] = True
                        captured["body"] = bytearray()
                if message["type"] == "http.response.body" and not message.get("more_body", False):
                    last.append(message)  # sent once the key is settled: a repeat right after it finds the outcome
                    return
                await send(message)

            try:
                await self.app(scope, replay_receive, capture_send)
            except BaseException:
                await self._release(db, principal, key)
                raise
            status = captured["status"]
            if status is None or status >= 500 or status in NOT_STORED:
                await self._release(db, principal, key)
            elif captured["secret"]:
                await self._complete(db, principal, key, status, None, None, state=WITHHELD)
            else:
                await self._complete(db, principal, key, status, captured["headers"], None if captured["too_big"] else bytes(captured["body"]))
            for message in last:
                await send(message)
        finally:
            spool.close()

    async def _claim(self, db: Database, principal: str, key: str, fingerprint: str, method: str, path: str) -> IdempotencyRecord | str:
        now = utcnow()
        try:
            async with db.session(write=True) as session:
                existing = await session.scalar(
                    select(IdempotencyRecord).where(IdempotencyRecord.principal == principal, IdempotencyRecord.key == key)
                )
                if existing is not None:
                    if not hmac.compare_digest(existing.fingerprint, fingerprint):
                        return "mismatch"
                    if existing.state in ("completed", WITHHELD):
                        return existing
                    if existing.locked_until and existing.locked_until > now:
                        return "busy"
                    existing.locked_until = now + self.lease  # the first attempt died: take it over
                    return "run"
                session.add(
                    IdempotencyRecord(
                        principal=principal, key=key, method=method, path=path[:2000], fingerprint=fingerprint,
                        state="in_progress", locked_until=now + self.lease,
                    )
                )
                return "run"
        except IntegrityError:
            return "busy"  # a concurrent first request won the insert

    async def _complete(self, db: Database, principal: str, key: str, status: int, headers: list[list[str]] | None,
                        body: bytes | None, *, state: str = "completed") -> None:
        try:
            async with db.session(write=True) as session:
                await session.execute(
                    update(IdempotencyRecord)
                    .where(IdempotencyRecord.principal == principal, IdempotencyRecord.key == key)
                    .values(state=state, status_code=status, response_headers=headers, response_body=body, locked_until=None)
                )
        except Exception:  # the response still goes out; a repeat finds the key busy until its lease ends, then runs
            log.exception("could not store the response of an idempotency key")

    async def _release(self, db: Database, principal: str, key: str) -> None:
        try:
            async with db.session(write=True) as session:
                await session.execute(
                    delete(IdempotencyRecord).where(
                        IdempotencyRecord.principal == principal, IdempotencyRecord.key == key, IdempotencyRecord.state == "in_progress"
                    )
                )
        except Exception:
            log.exception("could not release idempotency key")

    async def _replay(self, send: Send, record: IdempotencyRecord) -> None:
        body = record.response_body or b""
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (record.response_headers or [])]
        headers += [(b"content-length", str(len(body)).encode()), (b"idempotent-replayed", b"true")]
        await send({"type": "http.response.start", "status": record.status_code or 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


PURGE_BATCH = 2_000


async def purge_expired(db: Database, older_than: datetime, *, batch: int = PURGE_BATCH) -> int:
    """Delete the keys first used before ``older_than``: completed ones, and unfinished ones whose lease ran out
    (their request died). A key whose request is still running is kept. Deletes ``batch`` rows per transaction, so
    a large backlog never holds a long lock (on SQLite, the one write lock) and the other writes go on between
    batches. Returns how many rows were deleted."""
    total = 0
    while True:
        now = utcnow()
        expired = and_(
            IdempotencyRecord.created_at < older_than,
            or_(IdempotencyRecord.state.in_(("completed", WITHHELD)), IdempotencyRecord.locked_until.is_(None),
                IdempotencyRecord.locked_until < now),
        )
        async with db.session(write=False) as session:  # found without a write lock; mostly there is nothing
            ids = (await session.scalars(
                select(IdempotencyRecord.id).where(expired).order_by(IdempotencyRecord.created_at).limit(batch)
            )).all()
        if ids:
            async with db.session(write=True) as session:  # checked again: a key may have been taken over meanwhile
                await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id.in_(ids), expired))
        total += len(ids)
        if len(ids) < batch:
            return total
        await asyncio.sleep(0)


def purge_worker(db: Database, retention: timedelta, every_seconds: float) -> LeasedWorker[bool]:
    """The purge as a background worker, for the life of the process: expired keys purged at start and then every
    ``every_seconds`` (real time). Per process, no lease (:meth:`LeasedWorker.periodic`): two replicas purging at
    once only delete the same rows. A failed round is logged and tried again after a back-off (1 s doubling, at
    most a minute, never later than the next period)."""

    async def purge() -> bool:
        purged = await purge_expired(db, utcnow() - retention)
        if purged:
            log.info("purged %d idempotency keys older than %s", purged, retention)
        return False  # the next round in ``every_seconds``

    return LeasedWorker.periodic("idempotency purge", purge, poll_seconds=every_seconds, logger=log,
                                 policy=RetryPolicy(max_delay=min(60.0, every_seconds)))


async def purge_loop(db: Database, retention: timedelta, every_seconds: float) -> None:
    """:func:`purge_worker` run in the caller's task until it is cancelled."""
    await purge_worker(db, retention, every_seconds).run()
