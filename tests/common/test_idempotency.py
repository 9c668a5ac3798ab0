"""Idempotency-Key on POST: per verified caller, first response replayed (never one carrying a secret), same key with
another request refused, nothing applied twice, nothing kept for anonymous callers."""

from __future__ import annotations

import json
import uuid

from tests.support import Platform, eventually


def account_body() -> dict:
    return {"username": f"gv.{uuid.uuid4().hex[:8]}", "full_name": "Trường Cao đẳng Nghề Đà Nẵng — giáo vụ",
            "password": "Mật-khẩu-Tốt-2026", "memberships": [{"at": "CD0101", "role": "teacher"}]}


async def test_replay_returns_first_response_and_creates_nothing_new(platform: Platform) -> None:
    headers = await platform.admin_headers() | {"Idempotency-Key": str(uuid.uuid4())}
    body = account_body()
    async with platform.client("identity") as c:
        first = await c.post("/v1/accounts", json=body, headers=headers)
        again = await c.post("/v1/accounts", json=body, headers=headers)
        # without the key, the same body is a new request and hits the natural-key conflict
        conflict = await c.post("/v1/accounts", json=body, headers={"Authorization": headers["Authorization"]})
    assert first.status_code == 201, first.text
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()  # the same account
    assert first.json()["full_name"] == "Trường Cao đẳng Nghề Đà Nẵng — giáo vụ"
    assert conflict.status_code == 409


async def test_a_response_with_a_secret_is_remembered_but_never_replayed(platform: Platform) -> None:
    """A machine client's one-time secret (Cache-Control: no-store) is not stored: the repeat is a 409 naming the
    first status, the client is not created twice, and the secret appears nowhere but in the first response."""
    headers = await platform.admin_headers("identity:clients") | {"Idempotency-Key": str(uuid.uuid4())}
    body = {"client_id": f"sis-{uuid.uuid4().hex[:8]}", "name": "Trường Cao đẳng Nghề Đà Nẵng SIS", "scopes": ["records:sync"]}
    async with platform.client("identity") as c:
        first = await c.post("/v1/clients", json=body, headers=headers)
        again = await c.post("/v1/clients", json=body, headers=headers)
        conflict = await c.post("/v1/clients", json=body, headers={"Authorization": headers["Authorization"]})
    assert first.status_code == 201, first.text
    assert first.headers["cache-control"] == "no-store"
    assert again.status_code == 409 and again.json()["type"].endswith("/idempotency-response-withheld")
    assert again.json()["first_status"] == 201 and again.json()["errors"][0]["field"] == "Idempotency-Key"
    assert first.json()["client_secret"] not in again.text
    assert conflict.status_code == 409  # created once


async def test_the_same_key_with_other_meaningful_headers_is_another_request(platform: Platform) -> None:
    headers = await platform.admin_headers() | {"Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json"}
    body = json.dumps(account_body()).encode()
    async with platform.client("identity") as c:
        first = await c.post("/v1/accounts", content=body, headers=headers)
        other_type = await c.post("/v1/accounts", content=body, headers=headers | {"Content-Type": "text/plain"})
        other_accept = await c.post("/v1/accounts", content=body, headers=headers | {"Accept": "text/csv"})
        other_path = await c.post("/v1/accounts?x=1", content=body, headers=headers)
    assert first.status_code == 201
    for r in (other_type, other_accept, other_path):
        assert r.status_code == 409 and r.json()["type"].endswith("/idempotency-key-reused"), r.text


async def test_anonymous_callers_and_unverified_tokens_get_no_idempotency(platform: Platform) -> None:
    """Nothing is stored for a caller the service has not authenticated: their key is ignored."""
    from sqlalchemy import func, select

    from services.common.models import IdempotencyRecord

    key = str(uuid.uuid4())
    async with platform.client("identity") as c:
        anonymous = await c.post("/v1/accounts", json=account_body(), headers={"Idempotency-Key": key})
        garbage = await c.post("/v1/accounts", json=account_body(), headers={"Idempotency-Key": key, "Authorization": "Bearer a.b.c"})
        login = await c.post("/v1/auth/login", json={"username": "teacher.demo", "password": "dev-only-Teacher#2026"},
                             headers={"Idempotency-Key": key})
    assert anonymous.status_code == 401 and garbage.status_code == 401 and login.status_code == 200
    async with platform.apps["identity"].state.db.session(write=False) as s:
        assert await s.scalar(select(func.count()).select_from(IdempotencyRecord).where(IdempotencyRecord.key == key)) == 0


async def test_same_key_with_another_body_is_409_and_changes_nothing(platform: Platform) -> None:
    key = str(uuid.uuid4())
    headers = await platform.admin_headers("identity:clients") | {"Idempotency-Key": key}
    a = {"client_id": f"sis-{uuid.uuid4().hex[:8]}", "name": "A", "scopes": ["records:sync"]}
    b = {**a, "client_id": f"sis-{uuid.uuid4().hex[:8]}"}
    async with platform.client("identity") as c:
        first = await c.post("/v1/clients", json=a, headers=headers)
        other = await c.post("/v1/clients", json=b, headers=headers)
        # b was never created: posting it under a fresh key succeeds
        fresh = await c.post("/v1/clients", json=b, headers=headers | {"Idempotency-Key": str(uuid.uuid4())})
    assert first.status_code == 201
    assert other.status_code == 409
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["type"].endswith("/idempotency-key-reused")
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    assert fresh.status_code == 201


async def test_keys_are_per_caller_and_failures_are_not_stored(platform: Platform) -> None:
    key = str(uuid.uuid4())
    body = {"client_id": f"sis-{uuid.uuid4().hex[:8]}", "name": "A", "scopes": ["records:sync"]}
    async with platform.client("identity") as c:
        # the same caller without the scope gets 403, which is not remembered: the key still works later
        denied = await c.post("/v1/clients", json=body, headers=await platform.admin_headers("identity:keys") | {"Idempotency-Key": key})
        ok = await c.post("/v1/clients", json=body, headers=await platform.admin_headers("identity:clients") | {"Idempotency-Key": key})
        bad_key = await c.post("/v1/clients", json=body, headers=await platform.admin_headers("identity:clients") | {"Idempotency-Key": "x" * 300})
    assert denied.status_code == 403
    assert ok.status_code == 201 and "idempotent-replayed" not in ok.headers
    assert bad_key.status_code == 400 and bad_key.json()["errors"][0]["field"] == "Idempotency-Key"


async def test_the_stored_fingerprint_is_keyed_not_a_plain_hash_of_the_body(platform: Platform) -> None:
    """A body may carry a personal ID number; a plain SHA-256 of it in the database could be reversed by trying the
    few numbers that fit a birth year and province. The fingerprint is an HMAC with the service's secret, over the
    verified caller, the request line and the meaningful headers and the body."""
    import hashlib
    import hmac

    from sqlalchemy import select

    from services.common.models import IdempotencyRecord

    key = str(uuid.uuid4())
    headers = await platform.admin_headers() | {"Idempotency-Key": key, "Content-Type": "application/json"}
    body = json.dumps(account_body()).encode()
    async with platform.client("identity") as c:
        first = await c.post("/v1/accounts", content=body, headers=headers)
        again = await c.post("/v1/accounts", content=body, headers=headers)
    assert first.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    async with platform.apps["identity"].state.db.session(write=False) as s:
        record = (await s.scalars(select(IdempotencyRecord).where(IdempotencyRecord.key == key))).one()
    assert record.principal == f"client:client:platform-admin@{platform.settings['identity'].jwt_issuer}"
    parts = [f"{record.principal}\nPOST /v1/accounts?\n".encode(), b"content-type: application/json\n",
             b"content-encoding: \n", b"accept: */*\n", b"if-match: \n", b"if-none-match: \n", body]
    plain = hashlib.sha256(b"".join(parts)).hexdigest()
    keyed = hmac.new(platform.settings["identity"].secret_key.encode(), b"".join(parts), hashlib.sha256).hexdigest()
    assert record.fingerprint == keyed and record.fingerprint != plain


async def test_keys_past_the_retention_are_purged_and_then_start_a_new_request(platform: Platform) -> None:
    """A key is remembered for the retention period, then forgotten: the purge deletes old completed keys and old
    unfinished ones whose request died, keeps recent keys and a request still running, and works in batches."""
    import asyncio
    import contextlib
    from datetime import timedelta

    from sqlalchemy import select, update

    from services.common.db import utcnow
    from services.common.idempotency import purge_expired, purge_loop
    from services.common.models import IdempotencyRecord

    db = platform.apps["identity"].state.db
    admin = await platform.admin_headers("identity:clients")

    def client_body() -> dict:
        return {"client_id": f"sis-{uuid.uuid4().hex[:8]}", "name": "SIS", "scopes": ["records:sync"]}

    old_keys = [str(uuid.uuid4()) for _ in range(5)]
    recent, running, died = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    async with platform.client("identity") as c:
        for key in [*old_keys, recent]:
            assert (await c.post("/v1/clients", json=client_body(), headers=admin | {"Idempotency-Key": key})).status_code == 201
    now = utcnow()
    async with db.session(write=True) as s:
        await s.execute(update(IdempotencyRecord).where(IdempotencyRecord.key.in_(old_keys)).values(created_at=now - timedelta(days=8)))
        principal = (await s.scalars(select(IdempotencyRecord.principal).where(IdempotencyRecord.key == recent))).one()
        for key, locked_until in ((running, now + timedelta(minutes=2)), (died, now - timedelta(days=7))):
            s.add(IdempotencyRecord(principal=principal, key=key, method="POST", path="/v1/clients", fingerprint="0" * 64,
                                    state="in_progress", locked_until=locked_until, created_at=now - timedelta(days=8)))

    assert await purge_expired(db, utcnow() - timedelta(days=7), batch=2) == 6  # five old ones and the dead one, 2 at a time
    async with db.session(write=False) as s:
        left = set((await s.scalars(select(IdempotencyRecord.key).where(
            IdempotencyRecord.key.in_([*old_keys, recent, running, died])))).all())
    assert left == {recent, running}

    async with platform.client("identity") as c:
        # a forgotten key with another body is a new request (no 409); a remembered one still replays or refuses
        reused = await c.post("/v1/clients", json=client_body(), headers=admin | {"Idempotency-Key": old_keys[0]})
        refused = await c.post("/v1/clients", json=client_body(), headers=admin | {"Idempotency-Key": recent})
    assert reused.status_code == 201 and "idempotent-replayed" not in reused.headers
    assert refused.status_code == 409

    # the loop the services run does the same, and keeps going
    async with db.session(write=True) as s:
        await s.execute(update(IdempotencyRecord).where(IdempotencyRecord.key == recent).values(created_at=now - timedelta(days=8)))
    task = asyncio.create_task(purge_loop(db, timedelta(days=7), every_seconds=0.05))
    try:
        async def purged() -> bool:
            async with db.session(write=False) as s:
                return await s.scalar(select(IdempotencyRecord.id).where(IdempotencyRecord.key == recent)) is None

        await eventually(purged, what="the purge loop removing the expired key")
        assert not task.done()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert platform.settings["identity"].idempotency_retention_hours == 168.0
