"""Batch issuing as a job with progress, idempotent replay, and issuing from records' and learning's events."""

from __future__ import annotations

import uuid

import pytest

from tests.credentials.factories import diploma, verify, wait_for_event_jobs, wait_for_job
from tests.support import Platform, id_number

#: no call to identity (or another service) while a write transaction is open: services.common.testing.WriteTransactions
pytestmark = pytest.mark.usefixtures("no_calls_in_write_transactions")

COHORT = 300


def cohort(n: int) -> list[dict]:
    return [
        diploma(holder={"full_name": f"Nguyễn Thị Hồng {i}", "id_number": None, "gender": "female"},
                graduation={"gpa": f"{2 + (i % 200) / 100:.2f}", "classification": "good"})
        for i in range(n)
    ]


async def test_batch_issue_job_progress_and_replay(platform: Platform) -> None:
    headers = await platform.school_headers()
    items = cohort(COHORT)
    key = {"Idempotency-Key": "cohort-" + uuid.uuid4().hex}
    async with platform.client("credentials") as c:
        r = await c.post("/v1/issue-jobs", json={"institution_code": "CD0101", "credentials": items}, headers=headers | key)
        assert r.status_code == 202, r.text
        replay = await c.post("/v1/issue-jobs", json={"institution_code": "CD0101", "credentials": items}, headers=headers | key)
        job = await wait_for_job(c, r.json()["id"], headers)
        issued = await c.get(f"/v1/issue-jobs/{job['id']}/items", params={"state": "issued", "limit": 500}, headers=headers)
        # the same cohort again, without the key: a new job, but nothing is issued twice
        again = await c.post("/v1/issue-jobs", json={"institution_code": "CD0101", "credentials": items},
                             headers=headers | {"X-Forwarded-Prefix": "/api/credentials"})  # as the gateway sends it
        second = await wait_for_job(c, again.json()["id"], headers)
        second_items = await c.get(f"/v1/issue-jobs/{second['id']}/items", params={"limit": 500}, headers=headers)
        other_school = await c.get(f"/v1/issue-jobs/{job['id']}", headers={
            "Authorization": f"Bearer {await platform.token('demo-employer', 'dev-only-demo-employer-secret')}"})
    assert replay.status_code == 202 and replay.headers.get("idempotent-replayed") == "true" and replay.json()["id"] == r.json()["id"]
    assert r.headers["location"] == f"/v1/issue-jobs/{r.json()['id']}"
    assert again.headers["location"] == f"/api/credentials/v1/issue-jobs/{again.json()['id']}"
    assert job["state"] == "completed" and job["progress"] == 1.0
    assert (job["total"], job["processed"], job["issued"], job["failed"]) == (COHORT, COHORT, COHORT, 0)
    ids = [i["credential_id"] for i in issued.json()["items"]]
    assert len(set(ids)) == COHORT
    assert (second["issued"], second["existing"]) == (0, COHORT)
    assert [i["credential_id"] for i in second_items.json()["items"]] == ids
    assert other_school.status_code == 404
    async with platform.client("credentials") as c:
        one = await c.get(f"/v1/credentials/{ids[7]}", headers=headers)
    assert one.json()["holder_name"] == "Nguyễn Thị Hồng 7"
    assert (await verify(platform, one.json()["document"]))["outcome"] == "valid"


async def test_batch_refuses_bad_items_naming_them(platform: Platform) -> None:
    headers = await platform.school_headers()
    items = cohort(3)
    items[1]["level"] = "elementary"
    items[2]["institution_code"] = "TC7901"
    async with platform.client("credentials") as c:
        bad = await c.post("/v1/issue-jobs", json={"institution_code": "CD0101", "credentials": items}, headers=headers)
        schema = await c.post("/v1/issue-jobs", json={"institution_code": "CD0101", "credentials": [{"kind": "diploma"}]}, headers=headers)
        other = await c.post("/v1/issue-jobs", json={"institution_code": "TC7901", "credentials": cohort(1)}, headers=headers)
    fields = {e["field"] for e in bad.json()["errors"]}
    assert bad.status_code == 422 and {"credentials.1.level", "credentials.2.institution_code"} <= fields
    assert schema.status_code == 422 and any(e["field"].startswith("credentials.0.") for e in schema.json()["errors"])
    assert other.status_code == 403


def graduated_event(person_id: str, learner_id: str, *, institution: str = "CD0101", holder: dict | None = None) -> dict:
    event = {
        "specversion": "1.0", "id": str(uuid.uuid4()), "type": "vn.vet.records.learner.graduated", "source": "records",
        "subject": learner_id, "time": "2026-07-01T03:00:00Z", "datacontenttype": "application/json",
        "data": {
            "institution_code": institution, "learner_id": learner_id, "person_id": person_id,
            "holder": {"full_name": "Lê Thị Thu Hà", "birth_date": "2004-02-29", "gender": "female", "birth_place": "Thừa Thiên Huế"},
            "programme": {"code": "CNTT-K20", "name": "Công nghệ thông tin", "level": "college", "occupation_code": "6480201",
                          "occupation_name": "Công nghệ thông tin (ứng dụng phần mềm)", "credits": 92},
            "graduation": {"year": 2026, "decision_number": "456/QĐ-CĐKTCN", "decision_date": "2026-06-30", "mode": "work_study",
                           "gpa": "3.55", "classification": "xuat_sac", "classification_label": "Xuất sắc"},
        },
    }
    if holder:
        event["data"]["holder"] = event["data"]["holder"] | holder
    return event


async def test_graduation_event_issues_a_diploma_once(platform: Platform) -> None:
    records = {"Authorization": f"Bearer {await platform.token('svc-records', platform.settings['records'].client_secret, 'events:deliver')}"}
    school = await platform.school_headers()
    person, learner = str(uuid.uuid4()), f"L{uuid.uuid4().hex[:8]}"
    event = graduated_event(person, learner)
    second = graduated_event(person, learner) | {"id": str(uuid.uuid4())}
    async with platform.client("credentials") as c:
        first = await c.post("/v1/events", json=event, headers=records)
        repeat = await c.post("/v1/events", json=event, headers=records)
        # a second event for the same graduation (another id) finds the diploma already issued
        other = await c.post("/v1/events", json=second, headers=records)
        anonymous = await c.post("/v1/events", json=graduated_event(person, learner))
        jobs_done = await c.get("/v1/admin/inbox", params={"type": "vn.vet.records.learner.graduated"},
                                headers=await platform.admin_headers())
        # both events' jobs finished (each event becomes one job), with a deadline
        jobs = await wait_for_event_jobs(c, school, "CD0101", [event["id"], second["id"]])
        listed = await c.get("/v1/credentials", params={"institution": "CD0101", "limit": 500}, headers=school)
        # other tests issue diplomas to holders of the same name: this person's are told apart by person id
        details = [(await c.get(f"/v1/credentials/{i['id']}", headers=school)).json()
                   for i in listed.json()["items"] if i["holder_name"] == "Lê Thị Thu Hà"]
        mine = [d for d in details if d["person_id"] == person]
    assert sorted((j["issued"], j["existing"]) for j in jobs) == [(0, 1), (1, 0)], jobs
    assert first.status_code == 202 and repeat.json()["status"] == "duplicate" and other.status_code == 202
    assert anonymous.status_code == 401
    assert jobs_done.status_code == 200
    assert len(mine) == 1, mine
    body = mine[0]
    assert body["kind"] == "diploma" and body["achievement_code"] == "CNTT-K20"
    doc = body["document"]
    assert doc["credentialSubject"]["classification"] == "Xuất sắc" and doc["credentialSubject"]["gpa"] == "3.55"
    assert doc["credentialSubject"]["trainingMode"] == "Vừa làm vừa học"
    assert (await verify(platform, doc))["outcome"] == "valid"


async def test_graduation_event_identifies_the_holder_by_the_hashed_personal_id_number(platform: Platform) -> None:
    """The event as records sends it (``services/records/programmes/graduation.py``): the holder's 12-digit
    personal ID number travels in ``holder.id_number`` and only its salted hash reaches the diploma. An event
    without it (sent before records carried the number) still issues, identified by the platform's person id."""
    import hashlib

    records = {"Authorization": f"Bearer {await platform.token('svc-records', platform.settings['records'].client_secret, 'events:deliver')}"}
    school = await platform.school_headers()
    number = id_number("079", 3, 4)  # born 2004 in TP HCM, female
    with_number = graduated_event(str(uuid.uuid4()), f"L{uuid.uuid4().hex[:8]}",
                                  holder={"full_name": "Võ Thị Ngọc Hân", "id_number": number})
    with_number["data"] |= {"enrolment_id": str(uuid.uuid4()), "institution_name": "Trường Cao đẳng Kỹ thuật Công nghệ"}
    without = graduated_event(str(uuid.uuid4()), f"L{uuid.uuid4().hex[:8]}", holder={"full_name": "Võ Thị Ngọc Hà"})
    async with platform.client("credentials") as c:
        for event in (with_number, without):
            r = await c.post("/v1/events", json=event, headers=records)
            assert r.status_code == 202, r.text
        # both events' jobs have ended (each event becomes one job), waited for with a deadline; then one look
        jobs = await wait_for_event_jobs(c, school, "CD0101", [with_number["id"], without["id"]])
        assert sorted((j["issued"], j["existing"]) for j in jobs) == [(1, 0), (1, 0)], jobs
        listed = (await c.get("/v1/credentials", params={"institution": "CD0101", "limit": 500}, headers=school)).json()
        docs = {i["holder_name"]: (await c.get(f"/v1/credentials/{i['id']}", headers=school)).json()["document"]
                for i in listed["items"] if i["holder_name"] in ("Võ Thị Ngọc Hân", "Võ Thị Ngọc Hà")}
    assert len(docs) == 2, docs.keys()
    hashed = docs["Võ Thị Ngọc Hân"]["credentialSubject"]["identifier"][0]
    assert hashed["identityType"] == "nationalIdentityNumber" and hashed["hashed"] is True
    assert hashed["identityHash"] == "sha256$" + hashlib.sha256((number + hashed["salt"]).encode()).hexdigest()
    assert number not in str(docs["Võ Thị Ngọc Hân"])
    fallback = docs["Võ Thị Ngọc Hà"]["credentialSubject"]["identifier"][0]
    person = without["data"]["person_id"]
    assert fallback["identityType"] == "systemId"
    assert fallback["identityHash"] == "sha256$" + hashlib.sha256((person + fallback["salt"]).encode()).hexdigest()
    for doc in docs.values():
        assert (await verify(platform, doc))["outcome"] == "valid"
