"""Only what verifies everywhere is issued (issue 12): text with control characters, codes that would make an
invalid or ambiguous IRI, and personal ID numbers identity would refuse are refused with a 422 naming the field —
on every path into issuance: the single issue call, batch jobs, and the events of records and learning."""

from __future__ import annotations

import asyncio
import json
import unicodedata
import uuid
from typing import Any

import httpx

from tests.credentials.differential.oracle import node_ready
from tests.credentials.factories import diploma, verify
from tests.credentials.test_batch_events import graduated_event
from tests.credentials.test_interop import _get, _node_verify
from tests.support import Platform, id_number


def course_certificate(**over: Any) -> dict[str, Any]:
    body = diploma(kind="course_certificate", level="course",
                   achievement={"code": uuid.uuid4().hex[:12], "name": "Kỹ năng giao tiếp", "version": "3",
                                "occupation_code": None, "occupation_name": None, "credits": None, "skill_area": "Giao tiếp"},
                   graduation={"year": 2026, "decision_number": None, "decision_date": None, "mode": None, "gpa": None,
                               "classification": None, "final_score": "8.5"})
    for key, value in over.items():
        body[key] = body[key] | value if isinstance(value, dict) else value
    return body


def fields(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return {e["field"] for e in response.json()["errors"]}


async def _issue(platform: Platform, body: dict[str, Any]) -> httpx.Response:
    # serialised with \u escapes (an unpaired surrogate has no UTF-8 form; JSON can still carry it)
    async with platform.client("credentials") as c:
        return await c.post("/v1/credentials", content=json.dumps(body), headers=await platform.school_headers() | {"Content-Type": "application/json"})


async def test_text_with_a_control_character_is_refused_naming_the_field(platform: Platform) -> None:
    cases = [
        ({"holder": {"full_name": "Trần Văn\u0007 Minh"}}, "holder.full_name"),            # C0 (BEL)
        ({"holder": {"full_name": "Trần Văn Minh\u0008"}}, "holder.full_name"),            # backspace, at the end
        ({"holder": {"birth_place": "Hà\u0085Nội"}}, "holder.birth_place"),                 # C1 (NEL)
        ({"achievement": {"name": "Công nghệ\u007f thông tin"}}, "achievement.name"),       # DEL
        ({"achievement": {"description": "dòng 1\ndòng 2"}}, "achievement.description"),     # line feed
        ({"graduation": {"decision_number": "123/QĐ\u0000"}}, "graduation.decision_number"),  # NUL
        ({"signer": {"name": "Nguyễn Văn Hùng", "title": "Hiệu\ttrưởng"}}, "signer.title"),  # tab
        ({"issue_place": "Hà Nội\u009f"}, "issue_place"),                                   # C1, the last one
        ({"holder": {"full_name": "Trần \ud800Minh"}}, "holder.full_name"),                   # an unpaired surrogate
    ]
    for over, field in cases:
        r = await _issue(platform, diploma(**over))
        assert fields(r) == {field}, (over, r.text)
        [error] = r.json()["errors"]
        assert error["code"] == "refused_character" and "U+" in error["message"], error


async def test_a_decomposed_vietnamese_name_is_kept_as_sent_and_verifies_here_and_in_vc_js(platform: Platform) -> None:
    await asyncio.to_thread(node_ready)
    nfc = f"Nguyễn Thị Thuỳ Dương {uuid.uuid4().hex[:4]}"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    body = diploma(holder={"full_name": nfd, "birth_place": unicodedata.normalize("NFD", "Thừa Thiên Huế")},
                   achievement={"name": unicodedata.normalize("NFD", "Kỹ thuật chế biến món ăn")})
    r = await _issue(platform, body)
    assert r.status_code == 201, r.text
    again = await _issue(platform, body | {"holder": body["holder"] | {"full_name": nfc}})  # the same name, composed
    cred = r.json()
    subject = cred["document"]["credentialSubject"]
    # signed as the school sent it (both forms are valid Unicode), not silently recomposed
    assert subject["name"] == nfd and cred["holder_name"] == nfd
    assert subject["birthPlace"] == unicodedata.normalize("NFD", "Thừa Thiên Huế")
    assert subject["achievement"]["name"] == unicodedata.normalize("NFD", "Kỹ thuật chế biến món ăn")
    # canonically the same input: found again, not a conflict
    assert again.status_code == 200 and again.json()["id"] == cred["id"], again.text
    assert (await verify(platform, cred["document"]))["outcome"] == "valid"
    documents = {cred["document"]["issuer"]["id"]: await _get(platform, "http://127.0.0.1:8000/issuers/CD0101/did.json")}
    entry = cred["document"]["credentialStatus"]  # one entry, revocation (OB 3.0: credentialStatus 0..1)
    documents[entry["statusListCredential"]] = await _get(platform, entry["statusListCredential"])
    [result] = await _node_verify([cred["document"]], documents)
    assert result["verified"], result


async def test_codes_that_become_iris_use_a_safe_character_set(platform: Platform) -> None:
    space = await _issue(platform, diploma(achievement={"code": "CNTT K20"}))
    # "X:1" without a version and "X" with version "1" would both be urn:vet:course:X:1
    colon = await _issue(platform, course_certificate(achievement={"code": "KNGT:1", "version": None}))
    versions = [await _issue(platform, course_certificate(achievement={"version": v})) for v in ("1|2", "{1}", '1"', "1 2", "v<1>", "1\\2", "1^2", "`1`")]
    tilde = await _issue(platform, course_certificate(achievement={"code": f"KN~{uuid.uuid4().hex[:6]}", "version": "2026.1-b_2~x"}))
    assert fields(space) == {"achievement.code"}
    assert fields(colon) == {"achievement.code"}
    for r in versions:
        assert fields(r) == {"achievement.version"}
        assert "- . _ ~" in r.json()["errors"][0]["message"]
    assert tilde.status_code == 201, tilde.text
    achievement = tilde.json()["document"]["credentialSubject"]["achievement"]
    assert achievement["id"].startswith("urn:vet:course:KN~") and achievement["id"].endswith(":2026.1-b_2~x")
    assert (await verify(platform, tilde.json()["document"]))["outcome"] == "valid"


async def test_personal_id_numbers_are_checked_as_identity_checks_them(platform: Platform) -> None:
    male_2003 = id_number("001", 2, 3)
    century = await _issue(platform, diploma(holder={"date_of_birth": "1903-05-14", "gender": "male", "id_number": male_2003}))
    year = await _issue(platform, diploma(holder={"date_of_birth": "2004-05-14", "gender": "male", "id_number": male_2003}))
    gender = await _issue(platform, diploma(holder={"date_of_birth": "2003-05-14", "gender": "female", "id_number": male_2003}))
    province = await _issue(platform, diploma(holder={"date_of_birth": "2003-05-14", "gender": "male", "id_number": "003203012345"}))
    full_width = await _issue(platform, diploma(holder={"id_number": "００１２０３０１２３４５"}))
    good = await _issue(platform, diploma(holder={"date_of_birth": "2003-05-14", "gender": "male", "id_number": male_2003}))
    for r in (century, year, gender, province, full_width):
        assert fields(r) == {"holder.id_number"}
        assert male_2003 not in r.text and "012345" not in r.text  # the number is never repeated
    assert "digit 4 gives a birth in the 2000s, but date_of_birth is 1903" in century.text
    assert "2004" in year.text and "female" in gender.text and "003 is not a province code" in province.text
    assert good.status_code == 201, good.text


async def test_a_batch_with_one_bad_row_is_refused_naming_the_row(platform: Platform) -> None:
    school = await platform.school_headers()
    rows = [diploma(holder={"full_name": f"Hoàng Văn Nam {uuid.uuid4().hex[:6]}"}) for _ in range(3)]
    rows[1]["holder"]["full_name"] = "Hoàng Văn\u001b Nam"
    rows[2]["holder"]["id_number"] = id_number("001", 3, 3)  # a woman's number for a man
    async with platform.client("credentials") as c:
        r = await c.post("/v1/issue-jobs", json={"institution_code": "CD0101", "credentials": rows}, headers=school)
        listed = await c.get("/v1/credentials", params={"institution": "CD0101", "limit": 500}, headers=school)
    assert fields(r) == {"credentials.1.holder.full_name", "credentials.2.holder.id_number"}
    # nothing was queued: the good row was not issued either (the batch is all or nothing, as for every item error)
    assert rows[0]["holder"]["full_name"] not in {i["holder_name"] for i in listed.json()["items"]}


async def _event_job(c: httpx.AsyncClient, headers: dict[str, str], event_id: str, institution: str = "CD0101") -> dict[str, Any]:
    """The job an event became, once it has run (found by the event's id through the jobs listing)."""
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        r = await c.get("/v1/issue-jobs", params={"institution": institution, "source_event_id": event_id}, headers=headers)
        assert r.status_code == 200, r.text
        jobs = r.json()["items"]
        if jobs and jobs[0]["state"] in ("completed", "failed"):
            return jobs[0]
        assert asyncio.get_running_loop().time() < deadline, jobs
        await asyncio.sleep(0.1)


async def test_events_with_bad_data_are_refused_for_good_with_the_reason(platform: Platform) -> None:
    records = {"Authorization": f"Bearer {await platform.token('svc-records', platform.settings['records'].client_secret, 'events:deliver')}"}
    learning = {"Authorization": f"Bearer {await platform.token('svc-learning', platform.settings['learning'].client_secret, 'events:deliver')}"}
    school, admin = await platform.school_headers(), await platform.admin_headers()
    bell = graduated_event(str(uuid.uuid4()), f"L{uuid.uuid4().hex[:8]}", holder={"full_name": "Lê Thị\u0007 Thu Hà"})
    # the holder of graduated_event is a woman born 2004: this number says a man born 2004
    number = graduated_event(str(uuid.uuid4()), f"L{uuid.uuid4().hex[:8]}",
                             holder={"full_name": "Lê Thị Thu Hằng", "id_number": id_number("079", 2, 4)})
    nul = graduated_event(str(uuid.uuid4()), f"L{uuid.uuid4().hex[:8]}", holder={"full_name": "Lê Thị\u0000 Thu"})
    course = {
        "specversion": "1.0", "id": str(uuid.uuid4()), "type": "vn.vet.learning.course.completed", "source": "learning",
        "data": {"course_id": str(uuid.uuid4()), "version": "1 {2}", "title": "Kỹ năng làm việc nhóm", "skill_area": "Làm việc nhóm",
                 "hours": 8, "learner_id": f"account:{uuid.uuid4()}", "institution_code": "CD0101",
                 "completed_at": "2026-07-01T03:00:00+00:00", "final_score": 9.0, "holder": {"full_name": "Phan Thị Mai"}},
    }
    async with platform.client("credentials") as c:
        accepted = [await c.post("/v1/events", json=e, headers=records) for e in (bell, number)]
        accepted.append(await c.post("/v1/events", json=course, headers=learning))
        refused = await c.post("/v1/events", json=nul, headers=records)
        jobs = [await _event_job(c, school, e["id"]) for e in (bell, number, course)]
        items = [(await c.get(f"/v1/issue-jobs/{j['id']}/items", headers=school)).json()["items"] for j in jobs]
        redelivered = await c.post("/v1/events", json=bell, headers=records)
        failing = await c.get("/v1/issue-jobs", params={"institution": "CD0101", "source": "event", "with_failures": "true", "limit": 500},
                              headers=school)
        other_school = await c.get("/v1/issue-jobs", params={"institution": "CD0101"},
                                   headers={"Authorization": f"Bearer {await platform.token('demo-employer', 'dev-only-demo-employer-secret')}"})
        listed = await c.get("/v1/credentials", params={"institution": "CD0101", "limit": 500}, headers=school)
        inbox = await c.get("/v1/admin/inbox", params={"type": "vn.vet.records.learner.graduated", "limit": 500}, headers=admin)
    assert [r.status_code for r in accepted] == [202, 202, 202], [r.text for r in accepted]
    # each became a job that ran once and issued nothing; its item says which field and why
    for job in jobs:
        assert (job["state"], job["issued"], job["failed"]) == ("completed", 0, 1), job
    assert [[e["field"] for e in i[0]["errors"]] for i in items] == [["holder.full_name"], ["holder.id_number"], ["achievement.version"]]
    assert "U+0007" in items[0][0]["errors"][0]["message"]
    assert items[1][0]["errors"][0]["message"] == "digit 4 encodes male, but gender is female"
    assert redelivered.json()["status"] == "duplicate"  # stored: a redelivery changes nothing, and nothing retries it
    assert {j["id"] for j in jobs} <= {j["id"] for j in failing.json()["items"]}
    assert other_school.status_code == 403
    assert not {"Lê Thị\u0007 Thu Hà", "Lê Thị Thu Hằng", "Phan Thị Mai"} & {i["holder_name"] for i in listed.json()["items"]}
    # U+0000 cannot even be stored (PostgreSQL's jsonb refuses it): the event is refused at once with a 422, which the
    # sender's outbox takes as final (the event goes dead there, with this answer as its last error)
    assert fields(refused) == {"data.holder.full_name"} and "U+0000" in refused.text
    assert nul["id"] not in {e["id"] for e in inbox.json()["items"]}


def test_is_absolute_iri_is_strict() -> None:
    from services.credentials.issuing.wellformed import is_absolute_iri

    good = ["urn:vet:course:KN-1:2026.1", "urn:uuid:5f0c9a51-8a3e-4c1e-9a43-6c1b8e1f0c2d", "did:web:127.0.0.1%3A8000:issuers:CD0101",
            "https://vet.gov.vn/api/credentials/v1/status-lists/1#7", "urn:vet:course:Kỹ-năng"]
    bad = ["urn:vet:course:a b", "urn:x:a|b", "urn:x:{1}", 'urn:x:"', "urn:x:<a>", "urn:x:a\\b", "urn:x:a^b", "urn:x:`a`",
           "urn:x:\u0007", "urn:x:\u0085", "urn:x:%zz", "relative/path", "", ":x", "urn:x:\ud800", None, 42]
    assert [v for v in good if not is_absolute_iri(v)] == []
    assert [v for v in bad if is_absolute_iri(v)] == []


def test_document_problems_name_the_path_of_each_unsignable_value() -> None:
    from services.credentials.issuing.wellformed import document_problems

    doc = {"@context": ["https://www.w3.org/ns/credentials/v2"], "id": "urn:uuid:1",
           "issuer": {"id": "did:web:x y", "name": "Trường\u0007"}, "supersedes": "not an iri",
           "credentialSubject": {"name": "Lê Văn A", "achievement": {"id": "urn:vet:course:a{b}", "name": "ok"}},
           "credentialStatus": [{"id": "https://x/1#2", "statusListCredential": "https://x/ 1"}]}
    assert [p for p, _ in document_problems(doc)] == [
        "issuer.id", "issuer.name", "supersedes", "credentialSubject.achievement.id", "credentialStatus.0.statusListCredential"]
