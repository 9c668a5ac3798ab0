"""The holder's personal ID number is never stored by the credentials service: an event or a batch job keeps only
the salted hash the diploma will carry (``issuing/sealing.py``), from the moment it is received."""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Any

import pytest
from sqlalchemy import inspect, text

from tests.credentials.factories import diploma, wait_for_job
from tests.credentials.test_batch_events import graduated_event
from tests.support import Platform, eventually, id_number


def new_number() -> str:
    return id_number("079", 2, 4)  # a man born 2004 in TP HCM


async def rows_containing(platform: Platform, needle: str) -> list[tuple[str, Any]]:
    """Every row of every table of the credentials database in which ``needle`` appears."""
    db = platform.apps["credentials"].state.db
    found: list[tuple[str, Any]] = []
    async with db.engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        for table in tables:
            for row in (await conn.execute(text(f'SELECT * FROM "{table}"'))).all():
                if needle in str(tuple(row)):
                    found.append((table, row))
    return found


def assert_hash_of(identity: dict[str, Any], number: str) -> None:
    assert identity["identityType"] == "nationalIdentityNumber" and identity["hashed"] is True
    assert identity["identityHash"] == "sha256$" + hashlib.sha256((number + identity["salt"]).encode()).hexdigest()


async def document_of(platform: Platform, holder_name: str) -> dict[str, Any]:
    """The document of the credential issued to ``holder_name``, once the issue job has made it."""
    school = await platform.school_headers()
    async with platform.client("credentials") as c:
        async def issued() -> list[dict[str, Any]]:
            listed = (await c.get("/v1/credentials", params={"institution": "CD0101", "limit": 500}, headers=school)).json()
            return [i for i in listed["items"] if i["holder_name"] == holder_name]

        match = await eventually(issued, what=f"a credential issued to {holder_name}")
        return (await c.get(f"/v1/credentials/{match[0]['id']}", headers=school)).json()["document"]


async def test_a_graduated_event_keeps_only_the_salted_hash(platform: Platform, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = await platform.token("svc-records", platform.settings["records"].client_secret, "events:deliver")
    number = id_number("079", 3, 4)  # a woman born 2004 in TP HCM, as the event's holder (graduated_event)
    name = f"Đỗ Minh Khôi {uuid.uuid4().hex[:6]}"
    event = graduated_event(str(uuid.uuid4()), f"L{uuid.uuid4().hex[:8]}", holder={"full_name": name, "id_number": number})
    # as the outbox delivers it: Idempotency-Key = event id, and once more (a redelivery)
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": event["id"]}
    async with platform.client("credentials") as c:
        first = await c.post("/v1/events", json=event, headers=headers)
        assert first.status_code == 202, first.text
        # from the moment it is received: not in the inbox row, the job's item, the idempotency record, anywhere
        assert await rows_containing(platform, number) == []
        again = await c.post("/v1/events", json=event, headers=headers)
        assert again.status_code == 202 and again.json() == first.json()  # the stored answer, not a body mismatch
        inbox = await c.get("/v1/admin/inbox", params={"type": event["type"], "limit": 500}, headers=await platform.admin_headers())
    [stored] = [e for e in inbox.json()["items"] if e["id"] == event["id"]]
    assert "id_number" not in stored["data"]["holder"]
    assert_hash_of(stored["data"]["holder"]["id_number_sealed"], number)

    doc = await document_of(platform, name)
    [identity] = doc["credentialSubject"]["identifier"]
    assert_hash_of(identity, number)
    # the diploma carries the hash sealed on receipt (the same salt), and still nothing stores the number
    assert identity == stored["data"]["holder"]["id_number_sealed"]
    assert number not in str(doc)
    assert await rows_containing(platform, number) == []
    for record in caplog.records:
        assert number not in record.getMessage() and number not in str(record.__dict__)


async def test_a_malformed_number_in_an_event_fails_its_job_without_being_kept(platform: Platform) -> None:
    token = await platform.token("svc-records", platform.settings["records"].client_secret, "events:deliver")
    bad = "07920" + str(uuid.uuid4().int % 10**5).zfill(5)  # ten digits
    event = graduated_event(str(uuid.uuid4()), f"L{uuid.uuid4().hex[:8]}", holder={"full_name": "Phan Văn Lợi", "id_number": bad})
    async with platform.client("credentials") as c:
        assert (await c.post("/v1/events", json=event, headers={"Authorization": f"Bearer {token}"})).status_code == 202
        assert await rows_containing(platform, bad) == []
        db = platform.apps["credentials"].state.db

        async def ended() -> Any:
            async with db.session(write=False) as s:
                row = (await s.execute(text("SELECT id, state FROM issue_jobs WHERE source_event_id = :e"),
                                       {"e": uuid.UUID(event["id"]) if db.dialect == "postgresql" else uuid.UUID(event["id"]).hex})).first()
            return row[0] if row is not None and row[1] in ("completed", "failed") else None

        job_id = await eventually(ended, what="the event's issue job ending")
        items = (await c.get(f"/v1/issue-jobs/{job_id}/items", headers=await platform.admin_headers())).json()
    [item] = items["items"] if isinstance(items, dict) else items
    assert item["state"] == "failed" and item["errors"] == [{"field": "holder.id_number", "message": "a personal identification number has 12 digits"}]


async def test_a_batch_job_keeps_only_the_salted_hash_and_replays_as_existing(platform: Platform) -> None:
    school = await platform.school_headers()
    numbers = [new_number() for _ in range(3)]
    names = [f"Bùi Thị Lan {uuid.uuid4().hex[:6]}" for _ in numbers]
    items = [diploma(person_id=str(uuid.uuid4()), holder={"full_name": n, "date_of_birth": "2004-03-01", "gender": "male",
                                                          "id_number": number})
             for n, number in zip(names, numbers, strict=True)]
    async with platform.client("credentials") as c:
        # the first one issued directly (the number only in memory), then all three in a batch
        direct = await c.post("/v1/credentials", json=items[0], headers=school)
        assert direct.status_code == 201, direct.text
        r = await c.post("/v1/issue-jobs", json={"institution_code": "CD0101", "credentials": items}, headers=school)
        assert r.status_code == 202, r.text
        for number in numbers:
            assert await rows_containing(platform, number) == []
        job = await wait_for_job(c, r.json()["id"], school)
        replay = await c.post("/v1/issue-jobs", json={"institution_code": "CD0101", "credentials": items}, headers=school)
        again = await wait_for_job(c, replay.json()["id"], school)
    # the direct one is found again (same fingerprint, computed over the input with its number), the others issued
    assert (job["state"], job["issued"], job["existing"], job["failed"]) == ("completed", 2, 1, 0), job
    assert (again["issued"], again["existing"], again["failed"]) == (0, 3, 0), again
    for name, number in zip(names, numbers, strict=True):
        doc = await document_of(platform, name)
        assert_hash_of(doc["credentialSubject"]["identifier"][0], number)
        assert await rows_containing(platform, number) == []
