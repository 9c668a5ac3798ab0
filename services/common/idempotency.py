"""``Idempotency-Key`` for POST, as a pure ASGI middleware.

The first request with a key runs; its response (status, headers, body) is stored and replayed for every later
request with the same key, the same caller and the same body. The same key with a different body is a 409
problem. While the first request is still running a repeat gets 409 with ``Retry-After``; if the first request's
process died, its lease expires and the repeat runs again (our writes are upserts on natural keys, so running
again is safe). The request body is spooled to a temporary file past 1 MiB while it is hashed, never held whole
in memory. Responses that say nothing about the request (401, 403, 429, 5xx) are not stored.

A key is remembered for a retention period (``idempotency_retention_hours``, a week by default: a school's system
retrying a term-end upload after a weekend outage still gets its first response); :func:`purge_loop` then deletes it
in small batches, and the same key afterwards starts a new request. The table thus holds about a week of keyed
writes instead of growing for ever.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import re
import tempfile
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.db import Database, utcnow
from services.common.errors import PROBLEM_JSON, problem_body
from services.common.models import IdempotencyRecord

log = logging.getLogger("services.idempotency")

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
SPOOL_BYTES = 1024 * 1024
MAX_STORED_BODY = 4 * 1024 * 1024
NOT_STORED = {401, 403, 408, 429}
_HOP_HEADERS = {b"content-length", b"x-request-id", b"date", b"server", b"transfer-encoding", b"connection"}


def caller_of(headers: dict[bytes, bytes]) -> str:
    """Namespace for keys: the token's subject (read without verifying; the endpoint verifies it), else anonymous."""
    auth = headers.get(b"authorization", b"").decode("latin-1")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.count(".") == 2:
        try:
            payload = token.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            return f"{claims.get('iss', '')}|{claims.get('sub', '')}"[:200]
        except (ValueError, UnicodeDecodeError):
            pass
    return "anonymous"


async def _send_problem(send: Send, status: int, title: str, detail: str, slug: str, path: str, extra_headers: list[tuple[bytes, bytes]] | None = None, **ext: Any) -> None:
    body = json.dumps(problem_body(status, title, detail, slug=slug, instance=path, **ext), ensure_ascii=False).encode()
    headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())] + (extra_headers or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, db_getter: Any, lease_seconds: float = 120.0, secret: bytes = b"") -> None:
        self.app = app
        self._db_getter = db_getter
        self.lease = timedelta(seconds=lease_seconds)
        #: the fingerprint of a request is keyed (HMAC-SHA256 with the service's secret): a body may hold a personal
        #: ID number, which a plain hash in the database would give away to anyone trying the few likely numbers
        self._secret = secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_key = headers.get(b"idempotency-key")
        if raw_key is None:
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
        db: Database = self._db_getter()
        principal = caller_of(headers)
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
        try:
            digest = hmac.new(self._secret, digestmod=hashlib.sha256)
            # records stored before fingerprints were keyed are still recognised; none is left one retention period
            # (idempotency_retention_hours) after the upgrade, and this second hash can go then
            legacy = hashlib.sha256()
            for part in (f"{scope['method']} {path}?{scope.get('query_string', b'').decode('latin-1')}\n".encode(),
                         headers.get(b"content-type", b"") + b"\n"):
                digest.update(part)
                legacy.update(part)
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                if chunk:
                    digest.update(chunk)
                    legacy.update(chunk)
                    spool.write(chunk)
                if not message.get("more_body", False):
                    break
            fingerprint = digest.hexdigest()

            verdict = await self._claim(db, principal, key, fingerprint, scope["method"], path, legacy.hexdigest())
            if isinstance(verdict, IdempotencyRecord):
                await self._replay(send, verdict)
                return
            if verdict == "mismatch":
                await _send_problem(
                    send, 409, "Conflict",
                    "This Idempotency-Key was already used with a different request body.", "idempotency-key-reused", path,
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

            captured: dict[str, Any] = {"status": None, "headers": [], "body": bytearray(), "too_big": False}

            async def capture_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    captured["status"] = message["status"]
                    captured["headers"] = [
                        [k.decode("latin-1"), v.decode("latin-1")]
                        for k, v in message.get("headers", [])
                        if k.lower() not in _HOP_HEADERS
                    ]
                elif message["type"] == "http.response.body" and not captured["too_big"]:
                    captured["body"].extend(message.get("body", b""))
                    if len(captured["body"]) > MAX_STORED_BODY:
                        captured["too_big"] = True
                        captured["body"] = bytearray()
                await send(message)

            try:
                await self.app(scope, replay_receive, capture_send)
            except BaseException:
                await self._release(db, principal, key)
                raise
            status = captured["status"]
            if status is None or status >= 500 or status in NOT_STORED:
                await self._release(db, principal, key)
            else:
                await self._complete(db, principal, key, status, captured["headers"], None if captured["too_big"] else bytes(captured["body"]))
        finally:
            spool.close()

    async def _claim(self, db: Database, principal: str, key: str, fingerprint: str, method: str, path: str,
                     legacy_fingerprint: str = "") -> IdempotencyRecord | str:
        now = utcnow()
        try:
            async with db.session(write=True) as session:
                existing = await session.scalar(
                    select(IdempotencyRecord).where(IdempotencyRecord.principal == principal, IdempotencyRecord.key == key)
                )
                if existing is not None:
                    if existing.fingerprint not in (fingerprint, legacy_fingerprint):
                        return "mismatch"
                    if existing.state == "completed":
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

    async def _complete(self, db: Database, principal: str, key: str, status: int, headers: list[list[str]], body: bytes | None) -> None:
        async with db.session(write=True) as session:
            await session.execute(
                update(IdempotencyRecord)
                .where(IdempotencyRecord.principal == principal, IdempotencyRecord.key == key)
                .values(state="completed", status_code=status, response_headers=headers, response_body=body, locked_until=None)
            )

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
            or_(IdempotencyRecord.state == "completed", IdempotencyRecord.locked_until.is_(None),
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


async def purge_loop(db: Database, retention: timedelta, every_seconds: float) -> None:
    """Runs for the life of the process: purges expired keys now and then every ``every_seconds``. Two replicas
    purging at once only delete the same rows; a failed round is logged and tried again at the next."""
    while True:
        try:
            purged = await purge_expired(db, utcnow() - retention)
            if purged:
                log.info("purged %d idempotency keys older than %s", purged, retention)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("idempotency key purge failed; trying again in %.0f s", every_seconds)
        await asyncio.sleep(every_seconds)
