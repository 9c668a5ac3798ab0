"""Grades with ETag/If-Match and audit; transcripts (JSON and PDF with Vietnamese text) for the learner, the school
and officers; graduation → outbox event; statistics scoped to the officer; the change feed under concurrent writers."""

from __future__ import annotations

import asyncio
import io

from tests.records.helpers import code, errors_of, grade, id_number, learner, login, run_json, run_ok, world
from tests.support import Platform

DEMO_NUMBER, DEMO_NAME = "001203012345", "Trần Văn Minh"  # linked to the student.demo account


async def setup_cohort(platform: Platform, c, school):  # noqa: ANN001, ANN201
    p, t, k = code("CNTT"), code("HK"), code("K")
    other = id_number(century_gender=3)
    batch = world(p, t, k, [
        learner(DEMO_NUMBER, DEMO_NAME, p, k, date_of_birth="2003-05-14", sex="male", birth_place="Hà Nội"),
        learner(other, "Nguyễn Thị Hồng Nhung", p, k, sex="female"),
    ], [
        grade(DEMO_NUMBER, p, "M1", t, "8.0", "8.75"),  # 8.5 A 4 × 3
        grade(DEMO_NUMBER, p, "M2", t, "7.1", "6.85"),  # 7.0 B 3 × 2
        grade(DEMO_NUMBER, p, "GDQP", t, "5", "5"),     # condition: passed, out of GPA
        grade(other, p, "M1", t, "3", "3"),             # F
    ])
    job = await run_json(c, school, batch)
    assert job["status"] == "succeeded", (job, await errors_of(c, job, school))
    return p, t, k, other


async def test_etag_audit_transcript_graduation_and_visibility(platform: Platform) -> None:
    school = await platform.school_headers()
    async with platform.client("records") as c:
        p, t, k, other = await setup_cohort(platform, c, school)
        teacher = await login(platform, "teacher.demo", "dev-only-Teacher#2026")
        entered = await c.post("/v1/institutions/CD0101/grades", json=grade(other, p, "M2", t, "6", "6"), headers=teacher)
        assert entered.status_code == 201, entered.text
        gid, tag = entered.json()["id"], entered.headers["etag"]
        ok = await c.put(f"/v1/grades/{gid}", json={"components": {"continuous": "7", "final": "7"}, "reason": "chấm phúc khảo"},
                         headers=teacher | {"If-Match": tag})
        assert ok.status_code == 200 and ok.json()["score"] == "7" and ok.headers["etag"] != tag
        stale = await c.put(f"/v1/grades/{gid}", json={"components": {"continuous": "9", "final": "9"}, "reason": "x"},
                            headers=teacher | {"If-Match": tag})
        missing = await c.put(f"/v1/grades/{gid}", json={"components": {"continuous": "9", "final": "9"}, "reason": "x"}, headers=teacher)
        assert stale.status_code == 412 and missing.status_code == 428
        history = (await c.get(f"/v1/grades/{gid}/history", headers=school)).json()
        assert [(h["old"] and h["old"]["score"], h["new"]["score"], h["reason"]) for h in history] == [(None, "6", None), ("6", "7", "chấm phúc khảo")]
        assert all(h["actor"].startswith("account:") and h["source"] == "api" for h in history)
        # a grade entered in error is removed with If-Match and a reason, which its trail keeps
        tag = ok.headers["etag"]
        no_reason = await c.delete(f"/v1/grades/{gid}", headers=teacher | {"If-Match": tag})
        assert no_reason.status_code == 422 and "reason" in no_reason.text
        long_reason = await c.delete(f"/v1/grades/{gid}", params={"reason": "x" * 501}, headers=teacher | {"If-Match": tag})
        assert long_reason.status_code == 422 and "reason" in long_reason.text
        assert (await c.delete(f"/v1/grades/{gid}", params={"reason": "nhập nhầm"}, headers=teacher)).status_code == 428
        gone = await c.delete(f"/v1/grades/{gid}", params={"reason": "nhập nhầm học phần"}, headers=teacher | {"If-Match": tag})
        assert gone.status_code == 204, gone.text
        assert (await c.get(f"/v1/grades/{gid}", headers=school)).status_code == 404
        trail = (await c.get(f"/v1/grades/{gid}/history", headers=await platform.admin_headers())).json()
        assert [(h["old"] and h["old"]["score"], h["new"] and h["new"]["score"], h["reason"]) for h in trail] == \
            [(None, "6", None), ("6", "7", "chấm phúc khảo"), ("7", None, "nhập nhầm học phần")]

        student = await login(platform, "student.demo", "dev-only-Student#2026")
        mine = (await c.get("/v1/me/records", headers=student)).json()
        enrolment = next(e for x in mine for e in x["enrolments"] if e["programme_code"] == p)
        own = next(x for x in mine if any(e["programme_code"] == p for e in x["enrolments"]))
        assert own["id_number"] == DEMO_NUMBER and not own["id_number_masked"]
        doc = (await c.get(f"/v1/enrolments/{enrolment['id']}/transcript", headers=student)).json()
        assert doc["gpa"] == "3.60" and doc["credits_earned"] == 7  # (4×3 + 3×2) / 5
        assert doc["graduation"] == {"eligible": True, "classification": "xuat_sac", "classification_label": "Xuất sắc", "reasons": []}
        pdf = await c.get(f"/v1/enrolments/{enrolment['id']}/transcript.pdf", headers=school)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        from pypdf import PdfReader

        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
        assert DEMO_NAME in text and "BẢNG ĐIỂM" in text and "Xuất sắc" in text
        # the other learner's transcript is not the student's to read
        other_learner = next(x for x in (await c.get("/v1/institutions/CD0101/learners", params={"limit": 500}, headers=school)).json()["items"]
                             if x["full_name"] == "Nguyễn Thị Hồng Nhung" and x["enrolments"][0]["programme_code"] == p)
        refused = await c.get(other_learner["enrolments"][0]["transcript_url"], headers=student)
        assert refused.status_code == 403
        officer = await login(platform, "officer.hcm.demo", "dev-only-Officer#2026")  # HCM officer, CD0101 is Hà Nội
        assert (await c.get(other_learner["enrolments"][0]["transcript_url"], headers=officer)).status_code == 403
        ministry = await login(platform, "ministry.demo", "dev-only-Ministry#2026")
        assert (await c.get(other_learner["enrolments"][0]["transcript_url"], headers=ministry)).status_code == 200

        # graduation decision → one event for the eligible learner
        cohort = next(x for x in (await c.get("/v1/institutions/CD0101/cohorts", headers=school)).json() if x["code"] == k)
        outbox = platform.apps["records"].state.outbox
        saved = dict(outbox.routes)
        outbox.routes = {"vn.vet.records.*": ["http://127.0.0.1:8004/v1/events"]}
        try:
            grad = await c.post(f"/v1/cohorts/{cohort['id']}/graduation", json={"decision_number": "123/QĐ-CĐKT", "decision_date": "2026-06-30"}, headers=school)
        finally:
            outbox.routes = saved
        assert grad.status_code == 200, grad.text
        body = grad.json()
        assert (body["graduated"], body["not_eligible"]) == (1, 1)
        admin = await platform.admin_headers()
        events = (await c.get("/v1/admin/outbox", params={"status": "pending", "limit": 500}, headers=admin)).json()["items"]
        mine_events = [e for e in events if e["type"] == "vn.vet.records.learner.graduated" and e["subject"] == f"learner/{own['id']}"]
        assert len(mine_events) == 1
        # a second decision graduates nobody twice
        again = (await c.post(f"/v1/cohorts/{cohort['id']}/graduation", json={"decision_number": "123/QĐ-CĐKT", "decision_date": "2026-06-30"}, headers=school)).json()
        assert again["graduated"] == 0


async def test_statistics_scoped_to_the_officer_and_csv(platform: Platform) -> None:
    school = await platform.school_headers()
    async with platform.client("records") as c:
        p, t, k = code("CNTT"), code("HK"), code("K")
        batch = world(p, t, k, [learner(id_number(), "Hà Văn A", p, k, sex="male", ethnicity="Tày"),
                                learner(id_number(century_gender=3), "Hà Thị B", p, k, sex="female", ethnicity="Kinh", disability=True),
                                learner(id_number(century_gender=3), "Hà Thị C", p, k, sex="female", ethnicity="Kinh")], [])
        await run_ok(c, school, batch)
        ministry = await login(platform, "ministry.demo", "dev-only-Ministry#2026")
        stats = (await c.get("/v1/statistics", params={"by": "sex,ethnic_minority", "institution": "CD0101", "year": 2024}, headers=ministry)).json()
        assert {x["sex"] for x in stats["items"]} >= {"male", "female"}
        # the HCM officer sees nothing of Hà Nội's CD0101
        officer = await login(platform, "officer.hcm.demo", "dev-only-Officer#2026")
        hcm = (await c.get("/v1/statistics", params={"by": "institution"}, headers=officer)).json()
        assert all(x["institution"] != "CD0101" for x in hcm["items"])
        assert (await c.get("/v1/statistics", params={"institution": "CD0101"}, headers=officer)).status_code == 403
        assert (await c.get("/v1/statistics", params={"province": "001"}, headers=officer)).status_code == 403
        csv_r = await c.get("/v1/statistics", params={"by": "level", "format": "csv", "year": 2024, "institution": "CD0101"}, headers=ministry)
        assert csv_r.status_code == 200 and csv_r.text.splitlines()[0] == "level,learners,enrolled,suspended,withdrawn,graduated,new_enrolments,graduates"
        # a report for the school: draft → submit → frozen
        r = await c.post("/v1/reports", json={"scope": "institution", "code": "CD0101", "year": 2024}, headers=school)
        assert r.status_code in (200, 201), r.text
        rid = r.json()["id"]
        if r.json()["status"] == "draft":
            sub = await c.post(f"/v1/reports/{rid}/submit", headers=school)
            assert sub.status_code == 200 and sub.json()["status"] == "submitted"
        assert (await c.post(f"/v1/reports/{rid}/refresh", headers=school)).status_code == 409
        assert (await c.post("/v1/reports", json={"scope": "institution", "code": "TC7901", "year": 2024}, headers=school)).status_code == 403


async def test_change_feed_under_concurrent_writers_has_no_gap_or_repeat(platform: Platform) -> None:
    school = await platform.school_headers()
    async with platform.client("records") as c:
        start = (await c.get("/v1/changes", headers=school)).json()["latest_version"]
        p, t, k = code("CNTT"), code("HK"), code("K")
        numbers = [id_number() for _ in range(8)]
        await run_ok(c, school, world(p, t, k, [learner(n, f"Học viên {i}", p, k) for i, n in enumerate(numbers)], []))
        seen: list[int] = []
        stop = asyncio.Event()

        async def follow() -> None:
            since = start
            while True:
                page = (await c.get("/v1/changes", params={"since": since, "limit": 7}, headers=school)).json()
                seen.extend(x["version"] for x in page["items"])
                since = page["next_since"]
                if stop.is_set() and not page["items"]:
                    return
                await asyncio.sleep(0)

        async def writer(n: str) -> None:
            for i in range(5):
                r = await c.post("/v1/institutions/CD0101/grades", json=grade(n, p, "M1", t, str(i + 1), "5"), headers=school)
                assert r.status_code in (200, 201), r.text

        follower = asyncio.create_task(follow())
        await asyncio.gather(*(writer(n) for n in numbers))
        stop.set()
        await follower
        end = (await c.get("/v1/changes", headers=school)).json()["latest_version"]
    mine = [v for v in seen]
    assert len(mine) == len(set(mine)), "a version was read twice"
    assert mine == sorted(mine)
    # every version after start belongs to CD0101 here only if nobody else wrote; check ours are all there
    assert sum(1 for _ in mine) >= 5 + 8 * 5  # setup rows + 40 grade writes
    assert set(range(start + 1, end + 1)) >= set(mine)
