"""Idempotency-Key on POST: first response replayed, same key with another body refused, nothing applied twice."""

from __future__ import annotations

import uuid

from tests.support import Platform


async def test_replay_returns_first_response_and_creates_nothing_new(platform: Platform) -> None:
    headers = await platform.admin_headers("identity:clients") | {"Idempotency-Key": str(uuid.uuid4())}
    body = {"client_id": f"sis-{uuid.uuid4().hex[:8]}", "name": "Trường Cao đẳng Nghề Đà Nẵng SIS", "scopes": ["records:sync"]}
    async with platform.client("identity") as c:
        first = await c.post("/v1/clients", json=body, headers=headers)
        again = await c.post("/v1/clients", json=body, headers=headers)
        # without the key, the same body is a new request and hits the natural-key conflict
        conflict = await c.post("/v1/clients", json=body, headers={"Authorization": headers["Authorization"]})
    assert first.status_code == 201, first.text
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()  # same id, same one-time secret
    assert first.json()["name"] == "Trường Cao đẳng Nghề Đà Nẵng SIS"
    assert conflict.status_code == 409


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
    few numbers that fit a birth year and province. The fingerprint is an HMAC with the service's secret."""
    import hashlib
    import hmac

    from sqlalchemy import select

    from services.common.models import IdempotencyRecord

    key = str(uuid.uuid4())
    headers = await platform.admin_headers("identity:clients") | {"Idempotency-Key": key, "Content-Type": "application/json"}
    body = ('{"client_id": "sis-%s", "name": "SIS", "scopes": ["records:sync"]}' % uuid.uuid4().hex[:8]).encode()
    async with platform.client("identity") as c:
        first = await c.post("/v1/clients", content=body, headers=headers)
        again = await c.post("/v1/clients", content=body, headers=headers)
    assert first.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    async with platform.apps["identity"].state.db.session(write=False) as s:
        stored = (await s.scalars(select(IdempotencyRecord).where(IdempotencyRecord.key == key))).one().fingerprint
    parts = [b"POST /v1/clients?\n", b"application/json\n", body]
    plain = hashlib.sha256(b"".join(parts)).hexdigest()
    keyed = hmac.new(platform.settings["identity"].secret_key.encode(), b"".join(parts), hashlib.sha256).hexdigest()
    assert stored == keyed and stored != plain
