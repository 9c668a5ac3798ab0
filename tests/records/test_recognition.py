"""Credit transfer and recognition of prior learning through the API. A learner graduated from an intermediate
programme at CD0101 (modules M1 8.6, M2 6.6; the diploma issued by credentials) enrols in a college's programme
(modules C1 3 credits, C2 2, C3 3, C4 2, GDQP). The college's equivalence rules:

    R1  C1 ← module M1, ≥ 3 credits, ≥ 7.0, at most 5 years old, grade in the GPA
    R2  C2 ← module M2, ≥ 7.0                         (6.6: cannot be approved; refused with a reason)
    R3  C3 ← a diploma in occupation 5480202 at intermediate level, GPA ≥ 2.0, not in the GPA
    R4  C4 ← work experience assessed with a score ≥ 5, in the GPA

The learner signs in with VNeID and asks, presenting the diploma and a tampered copy (refused at once: it does not
verify). The college approves C1 and C3, refuses C2; an RPL assessment on evidence files recognises C4 with 8.0.
The transcript shows C1, C3, C4 "công nhận" with their sources; the GPA counts C1 (8.6: A, 4) and C4 (8.0: B, 3):
(4·3 + 3·2) / 5 = 3.60; only C2 and GDQP are missing for graduation. Sending anything twice changes nothing;
another institution sees nothing; with credentials unreachable a credential is not taken on trust (503)."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from services.common.clock import Clock
from services.common.models import OutboxEvent
from services.common.outbox import OutboxDeliverer
from tests.credentials.factories import wait_for_event_jobs
from tests.records.helpers import code, grade, id_number, learner, login, run_ok
from tests.records.test_admissions import vneid_sign_in
from tests.support import Platform, gateway_to_service

#: no call to identity (or another service) while a write transaction is open: services.common.testing.WriteTransactions
pytestmark = pytest.mark.usefixtures("no_calls_in_write_transactions")

PROVINCE = "048"
NAME, BORN, SEX = "Nguyễn Văn Hùng", "2004-02-03", "male"


def _programme(pcode: str, level: str, modules: list[tuple[str, int, bool]]) -> dict[str, Any]:
    occupation = "5480202" if level == "intermediate" else "6480201"
    return {"code": pcode, "name": f"Công nghệ thông tin ({level})", "level": level, "occupation_code": occupation, "year": 2024,
            "modules": [{"code": m, "name": f"Mô-đun {m}", "credits": cr, "is_condition": cond} for m, cr, cond in modules]}


def _batch(pcode: str, level: str, modules: list[tuple[str, int, bool]], term: str, cohort: str, number: str,
           grades: list[dict[str, Any]]) -> dict[str, Any]:
    return {"programmes": [_programme(pcode, level, modules)],
            "terms": [{"code": term, "name": "Học kỳ 1", "start_date": "2024-09-01", "end_date": "2025-01-15"}],
            "cohorts": [{"code": cohort, "name": "Lớp", "programme_code": pcode, "start_year": 2024}],
            "learners": [learner(number, NAME, pcode, cohort, date_of_birth=BORN, sex=SEX)],
            "grades": grades}


@pytest.fixture(scope="module")
async def transfer(platform: Platform) -> dict[str, Any]:
    school, admin = await platform.school_headers(), await platform.admin_headers()
    number = id_number(PROVINCE, 2, 4)
    # the intermediate programme at CD0101, graduated, its diploma issued by credentials
    pi, t, k = code("TC"), code("HK"), code("K")
    modules = [("M1", 3, False), ("M2", 2, False), ("GDQP", 2, True)]
    grades = [grade(number, pi, "M1", t, "8", "9"), grade(number, pi, "M2", t, "6", "7"), grade(number, pi, "GDQP", t, "6", "6")]
    async with platform.client("records") as c:
        await run_ok(c, school, _batch(pi, "intermediate", modules, t, k, number, grades))
        cohort = next(x for x in (await c.get("/v1/institutions/CD0101/cohorts", headers=school)).json() if x["code"] == k)
        r = await c.post(f"/v1/cohorts/{cohort['id']}/graduation", json={"decision_number": "5/QĐ-TC", "decision_date": "2025-06-30"},
                         headers=school)
        assert r.status_code == 200 and r.json()["graduated"] == 1, r.text
    state = platform.apps["records"].state
    await OutboxDeliverer(state.db, state.http, state.tokens, base_delay=0.0).run_once()
    async with state.db.session() as session:
        events = (await session.scalars(select(OutboxEvent).where(OutboxEvent.type == "vn.vet.records.learner.graduated"))).all()
        event_ids = [str(e.id) for e in events if pi in json.dumps(e.data, ensure_ascii=False)]
    async with platform.client("credentials") as c:
        await wait_for_event_jobs(c, school, "CD0101", event_ids, timeout=120)
        r = await c.get("/v1/credentials", params={"institution": "CD0101", "limit": 500}, headers=school)
        (found,) = [i for i in r.json()["items"] if i["holder_name"] == NAME]
        diploma = (await c.get(f"/v1/credentials/{found['id']}", headers=school)).json()["document"]

    # the college and the programme the learner now enrols in
    ministry = await login(platform, "ministry.demo", "dev-only-Ministry#2026")
    college = f"CD{uuid.uuid4().hex[:6].upper()}"
    async with platform.client("identity") as c:
        r = await c.post("/v1/institutions", headers=ministry, json={
            "code": college, "name": "Trường Cao đẳng thử liên thông", "type": "college", "province_code": PROVINCE})
        assert r.status_code == 201, r.text
    pc, t2, k2 = code("CD"), code("HK"), code("K")
    async with platform.client("records") as c:
        await run_ok(c, admin, _batch(pc, "college", COLLEGE_MODULES, t2, k2, number, []), institution=college)
    return {"number": number, "diploma": diploma, "college": college, "programme": pc, "cohort": k2}


COLLEGE_MODULES = [("C1", 3, False), ("C2", 2, False), ("C3", 3, False), ("C4", 2, False), ("GDQP", 2, True)]


RULES = {
    "R1": {"module_code": "C1", "source_kind": "module", "source_module_code": "M1", "min_credits": 3, "min_grade": "7.0",
           "max_age_years": 5, "in_gpa": True},
    "R2": {"module_code": "C2", "source_kind": "module", "source_module_code": "M2", "min_grade": "7"},
    "R3": {"module_code": "C3", "source_kind": "credential", "source_occupation_code": "5480202", "source_level": "intermediate",
           "min_grade": "2.0"},
    "R4": {"module_code": "C4", "source_kind": "experience", "min_grade": "5", "in_gpa": True},
}


async def test_transfer_with_records_a_verified_diploma_and_rpl(platform: Platform, transfer: dict[str, Any]) -> None:
    admin, school = await platform.admin_headers(), await platform.school_headers()
    college, pc = transfer["college"], transfer["programme"]
    base = f"/v1/institutions/{college}/programmes/{pc}/equivalences"
    async with platform.client("records") as c:
        # the rules, as data: put by code (again: no change), errors naming the field
        for rule_code, rule in RULES.items():
            r = await c.put(f"{base}/{rule_code}", headers=admin, json=rule)
            assert r.status_code == 201, r.text
        r = await c.put(f"{base}/R1", headers=admin, json=RULES["R1"])
        assert r.status_code == 200 and r.json()["min_grade"] == "7", r.text
        assert [x["code"] for x in (await c.get(base, headers=admin)).json()] == ["R1", "R2", "R3", "R4"]
        for bad, field in [({"module_code": "C9", "source_kind": "experience"}, "module_code"),
                           ({"module_code": "C1", "source_kind": "module"}, "source_module_code"),
                           ({"module_code": "C3", "source_kind": "credential", "min_grade": "7"}, "min_grade"),
                           ({"module_code": "C1", "source_kind": "module", "source_module_code": "M1", "min_grade": "11"}, "min_grade")]:
            r = await c.put(f"{base}/BAD", headers=admin, json=bad)
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, (bad, r.text)
        assert (await c.put(f"{base}/R9", headers=school, json=RULES["R4"])).status_code == 403

        # the learner asks, presenting the diploma and a tampered copy of it
        me = await vneid_sign_in(platform, transfer["number"], NAME, BORN, SEX)
        tampered = copy.deepcopy(transfer["diploma"])
        tampered["credentialSubject"]["gpa"] = "3.99"
        ask = {"credentials": [transfer["diploma"], tampered]}
        r = await c.put(f"/v1/recognition/me/{college}/{pc}", headers=me, json=ask)
        assert r.status_code == 201, r.text
        req = r.json()
        items = {(i["module_code"], i["source"].get("gpa")): i for i in req["items"]}
        assert sorted(items) == sorted([("C1", None), ("C2", None), ("C3", transfer["diploma"]["credentialSubject"]["gpa"]),
                                        ("C3", "3.99")]), req["items"]
        c1, c2 = items[("C1", None)], items[("C2", None)]
        c3 = items[("C3", transfer["diploma"]["credentialSubject"]["gpa"])]
        fake = items[("C3", "3.99")]
        assert c1["status"] == "pending" and c1["source"]["score"] == "8.6" and c1["source"]["institution_code"] == "CD0101"
        assert all(ch["passed"] for ch in c1["checks"]) and {ch["check"] for ch in c1["checks"]} == {"result", "credits", "grade", "age"}
        assert [ch["check"] for ch in c2["checks"] if not ch["passed"]] == ["grade"]
        assert c3["status"] == "pending" and all(ch["passed"] for ch in c3["checks"]), c3
        assert fake["status"] == "refused" and "does not verify" in fake["reason"], fake
        # the same request again: the same items, nothing new
        r = await c.put(f"/v1/recognition/me/{college}/{pc}", headers=me, json=ask)
        assert r.status_code == 200 and r.json()["items"] == req["items"], r.text

        # fail closed: credentials unreachable, a credential is not taken on trust and nothing changes
        settings = platform.apps["records"].state.settings
        saved, settings.credentials_url = settings.credentials_url, "http://127.0.0.1:9"
        try:
            r = await c.put(f"/v1/recognition/me/{college}/{pc}", headers=me, json={"credentials": [transfer["diploma"]]})
            assert r.status_code == 503, r.text
        finally:
            settings.credentials_url = saved
        r = await c.get(f"/v1/recognition-requests/{req['id']}", headers=admin)
        assert r.status_code == 200 and r.json()["items"] == req["items"], r.text

        # another institution sees nothing, decides nothing
        assert (await c.get(f"/v1/recognition-requests/{req['id']}", headers=school)).status_code == 404
        assert (await c.get(f"/v1/institutions/{college}/recognition-requests", headers=school)).status_code == 403
        decide = f"/v1/recognition-requests/{req['id']}/items"
        assert (await c.put(f"{decide}/{c1['id']}/decision", headers=school, json={"decision": "approved"})).status_code == 403

        # the college decides per module
        r = await c.put(f"{decide}/{c1['id']}/decision", headers=admin, json={"decision": "approved"})
        assert r.status_code == 200, r.text
        r = await c.put(f"{decide}/{c1['id']}/decision", headers=admin, json={"decision": "approved"})
        assert r.status_code == 200, r.text  # the same decision again
        r = await c.put(f"{decide}/{c1['id']}/decision", headers=admin, json={"decision": "refused", "reason": "đổi ý"})
        assert r.status_code == 409, r.text
        r = await c.put(f"{decide}/{c2['id']}/decision", headers=admin, json={"decision": "approved"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "decision", r.text
        r = await c.put(f"{decide}/{c2['id']}/decision", headers=admin, json={"decision": "refused"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason", r.text
        r = await c.put(f"{decide}/{c2['id']}/decision", headers=admin, json={"decision": "refused", "reason": "Điểm 6.6 dưới 7.0"})
        assert r.status_code == 200, r.text
        r = await c.put(f"{decide}/{fake['id']}/decision", headers=admin, json={"decision": "approved"})
        assert r.status_code == 409, r.text
        r = await c.put(f"{decide}/{c3['id']}/decision", headers=admin, json={"decision": "approved"})
        assert r.status_code == 200 and r.json()["status"] == "decided", r.text
        mine = (await c.get("/v1/recognition/me", headers=me)).json()
        assert [(x["id"], x["status"]) for x in mine] == [(req["id"], "decided")]
        assert [x["id"] for x in (await c.get(f"/v1/institutions/{college}/recognition-requests", headers=admin)).json()] == [req["id"]]

        # RPL: work experience assessed against C4 on evidence files, a panel with an enterprise's expert
        enrolment = req["enrolment_id"]
        assessment = {"assessor": "Trần Thị Thu", "experience": "3 năm lập trình viên tại công ty phần mềm",
                      "panel": [{"name": "Đỗ Văn Tâm", "role": "member", "organisation": "Công ty TNHH Phần mềm Demo"}]}
        r = await c.put(f"/v1/enrolments/{enrolment}/rpl/C4", headers=admin,
                        json=assessment | {"panel": [{"name": "Ai đó", "institution_code": "CD0101"}]})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "panel[0].institution_code", r.text  # a school, no enterprise
        r = await c.put(f"/v1/enrolments/{enrolment}/rpl/C4", headers=admin, json=assessment)
        assert r.status_code == 201, r.text
        aid = r.json()["id"]
        r = await c.put(f"/v1/enrolments/{enrolment}/rpl/C4", headers=admin, json=assessment)
        assert r.status_code == 200 and r.json()["id"] == aid, r.text
        assert (await c.put(f"/v1/enrolments/{enrolment}/rpl/C4", headers=school, json=assessment)).status_code == 403
        r = await c.put(f"/v1/rpl-assessments/{aid}/decision", headers=admin, json={"decision": "recognised", "score": "8"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "evidence", r.text
        pdf = b"%PDF-1.4\n% xac nhan kinh nghiem\n"
        for _ in range(2):  # the same file twice: kept once
            r = await c.put(f"/v1/rpl-assessments/{aid}/evidence/xac-nhan.pdf", headers=admin | {"content-type": "application/pdf"},
                            content=pdf)
            assert r.status_code == 200, r.text
        assert [(e["name"], e["size"]) for e in r.json()["evidence"]] == [("xac-nhan.pdf", len(pdf))]
        r = await c.get(f"/v1/rpl-assessments/{aid}/evidence/xac-nhan.pdf", headers=me)  # the learner sees her evidence
        assert r.status_code == 200 and r.json()["content_type"] == "application/pdf", r.text
        assert (await c.get(gateway_to_service(r.json()["download_url"]))).content == pdf  # no token: the link is the key
        assert (await c.get(f"/v1/rpl-assessments/{aid}/evidence/xac-nhan.pdf", headers=school)).status_code == 404
        assert (await c.get(f"/v1/rpl-assessments/{aid}/evidence/khac.pdf", headers=admin)).status_code == 404
        r = await c.put(f"/v1/rpl-assessments/{aid}/evidence/x.exe", headers=admin | {"content-type": "application/x-msdownload"},
                        content=b"MZ")
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "content-type", r.text
        r = await c.put(f"/v1/rpl-assessments/{aid}/decision", headers=admin, json={"decision": "recognised", "score": "4"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "score", r.text
        r = await c.put(f"/v1/rpl-assessments/{aid}/decision", headers=admin, json={"decision": "recognised", "score": "8"})
        assert r.status_code == 200 and r.json()["decision"] == "recognised", r.text
        r = await c.put(f"/v1/rpl-assessments/{aid}/decision", headers=admin, json={"decision": "recognised", "score": "8"})
        assert r.status_code == 200, r.text
        assert (await c.get(f"/v1/rpl-assessments/{aid}", headers=me)).status_code == 200
        assert (await c.get(f"/v1/rpl-assessments/{aid}", headers=school)).status_code == 404

        # the transcript: three modules "công nhận" with their sources, the GPA as the rules say
        r = await c.get(f"/v1/enrolments/{enrolment}/transcript", headers=admin)
        assert r.status_code == 200, r.text
        doc = r.json()
        results = {x["module_code"]: x for x in doc["results"]}
        assert set(results) == {"C1", "C3", "C4"}
        assert (results["C1"]["score"], results["C1"]["letter"], results["C1"]["recognition"]["label"]) == ("8.6", "A", "công nhận")
        assert "M1" in results["C1"]["recognition"]["source"] and "CD0101" in results["C1"]["recognition"]["source"]
        assert results["C3"]["score"] is None and results["C3"]["recognition"]["in_gpa"] is False
        assert "xác thực" in results["C3"]["recognition"]["source"]
        assert (results["C4"]["score"], results["C4"]["points"]) == ("8", "3")
        assert all(x["passed"] for x in results.values())
        assert doc["gpa"] == "3.60" and doc["credits_earned"] == 8, doc
        assert doc["graduation"]["reasons"] == ["no result for module(s) C2, GDQP"], doc["graduation"]
        r = await c.get(f"/v1/enrolments/{enrolment}/recognised-modules", headers=me)
        assert [(x["module_code"], x["source_kind"]) for x in r.json()] == [("C1", "record"), ("C3", "credential"), ("C4", "experience")]
        assert (await c.get(f"/v1/enrolments/{enrolment}/transcript.pdf", headers=admin)).status_code == 200

        # the recognised modules count toward graduation: with C2 (7.0, B, 3) and GDQP studied, she graduates, GPA
        # (4·3 + 3·2 + 3·2) / 7 = 3.43 (Giỏi)
        t2, k2 = code("HK"), transfer["cohort"]
        studied = [grade(transfer["number"], pc, "C2", t2, "7", "7"), grade(transfer["number"], pc, "GDQP", t2, "6", "6")]
        await run_ok(c, admin, _batch(pc, "college", COLLEGE_MODULES, t2, k2, transfer["number"], studied), institution=college)
        cohort = next(x for x in (await c.get(f"/v1/institutions/{college}/cohorts", headers=admin)).json() if x["code"] == k2)
        r = await c.post(f"/v1/cohorts/{cohort['id']}/graduation", headers=admin, json={"decision_number": "9/QĐ-CĐ", "decision_date": "2027-06-30"})
        assert r.status_code == 200 and r.json()["graduated"] == 1, r.text
        assert (r.json()["lines"][0]["gpa"], r.json()["lines"][0]["classification"]) == ("3.43", "gioi"), r.text


class FixedClock(Clock):
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


async def test_decision_checks_again_and_my_assessments(platform: Platform) -> None:
    """A decision holds the item against the rule as it is now and today's date in Vietnam: a result that has grown too
    old since the request (by Vietnam's date, though UTC's is still the day before), or a rule tightened since, is not
    approved (422 naming the check) and the learner sees the failed check. The learner lists their own RPL assessments,
    page by page; another person sees none of them."""
    school, admin = await platform.school_headers(), await platform.admin_headers()
    number, name = id_number(PROVINCE, 3, 4), "Lê Thị Mai"
    pi, t, k = code("TC"), code("HK"), code("K")
    modules = [("M1", 3, False), ("M2", 2, False)]
    grades = [grade(number, pi, "M1", t, "8", "9"), grade(number, pi, "M2", t, "6", "7")]
    ministry = await login(platform, "ministry.demo", "dev-only-Ministry#2026")
    college = f"CD{uuid.uuid4().hex[:6].upper()}"
    async with platform.client("identity") as c:
        r = await c.post("/v1/institutions", headers=ministry, json={
            "code": college, "name": "Trường Cao đẳng thử xét lại", "type": "college", "province_code": PROVINCE})
        assert r.status_code == 201, r.text
    pc, t2, k2 = code("CD"), code("HK"), code("K")
    records = platform.apps["records"]
    async with platform.client("records") as c:
        batch = _batch(pi, "intermediate", modules, t, k, number, grades)
        batch["learners"][0] |= {"full_name": name, "sex": "female"}
        await run_ok(c, school, batch)
        batch = _batch(pc, "college", COLLEGE_MODULES, t2, k2, number, [])
        batch["learners"][0] |= {"full_name": name, "sex": "female"}
        await run_ok(c, admin, batch, institution=college)
        base = f"/v1/institutions/{college}/programmes/{pc}/equivalences"
        rules = {"R1": RULES["R1"], "R2": {"module_code": "C2", "source_kind": "module", "source_module_code": "M2"}, "R4": RULES["R4"]}
        for rule_code, rule in rules.items():
            assert (await c.put(f"{base}/{rule_code}", headers=admin, json=rule)).status_code == 201

        me = await vneid_sign_in(platform, number, name, BORN, "female")
        r = await c.put(f"/v1/recognition/me/{college}/{pc}", headers=me, json={"credentials": []})
        assert r.status_code == 201, r.text
        req = r.json()
        items = {i["module_code"]: i for i in req["items"]}
        assert sorted(items) == ["C1", "C2"] and all(ch["passed"] for i in items.values() for ch in i["checks"]), req
        # M1's term ended 2025-01-15; R1 takes results at most 5 years old: until 2030-01-15, Vietnam's date
        decide = f"/v1/recognition-requests/{req['id']}/items"
        before = records.state.clock
        try:
            records.state.clock = FixedClock(datetime(2030, 1, 15, 17, 30, tzinfo=UTC))  # 00:30 on the 16th in Hà Nội
            r = await c.put(f"{decide}/{items['C1']['id']}/decision", headers=admin, json={"decision": "approved"})
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == "decision", r.text
            assert "age" in r.json()["errors"][0]["message"] and r.headers["content-type"].startswith("application/problem+json"), r.text
            seen = {i["module_code"]: i for i in (await c.get(f"/v1/recognition-requests/{req['id']}", headers=me)).json()["items"]}
            assert [ch["check"] for ch in seen["C1"]["checks"] if not ch["passed"]] == ["age"], seen["C1"]
            assert seen["C1"]["status"] == "pending"
            r = await c.put(f"{decide}/{items['C1']['id']}/decision", headers=admin, json={"decision": "refused", "reason": "Quá 5 năm"})
            assert r.status_code == 200, r.text

            # the rule tightened since the request: M2's 6.6 no longer meets it
            records.state.clock = FixedClock(datetime(2026, 12, 1, 3, 0, tzinfo=UTC))
            assert (await c.put(f"{base}/R2", headers=admin, json=rules["R2"] | {"min_grade": "7"})).status_code == 200
            r = await c.put(f"{decide}/{items['C2']['id']}/decision", headers=admin, json={"decision": "approved"})
            assert r.status_code == 422 and "grade" in r.json()["errors"][0]["message"], r.text
            seen = {i["module_code"]: i for i in (await c.get(f"/v1/recognition-requests/{req['id']}", headers=me)).json()["items"]}
            assert [ch["check"] for ch in seen["C2"]["checks"] if not ch["passed"]] == ["grade"], seen["C2"]
            # relaxed again: approved, as the checks now say
            assert (await c.put(f"{base}/R2", headers=admin, json=rules["R2"])).status_code == 200
            r = await c.put(f"{decide}/{items['C2']['id']}/decision", headers=admin, json={"decision": "approved"})
            assert r.status_code == 200 and r.json()["status"] == "decided", r.text
        finally:
            records.state.clock = before

        # the learner's own RPL assessments, page by page; nobody else's
        enrolment = req["enrolment_id"]
        opened = []
        for module in ("C4", "C3"):
            r = await c.put(f"/v1/enrolments/{enrolment}/rpl/{module}", headers=admin,
                            json={"assessor": "Trần Thị Thu", "experience": "2 năm kinh nghiệm", "panel": []})
            assert r.status_code == 201, r.text
            opened.append(r.json()["id"])
        mine = "/v1/recognition/me/rpl-assessments"
        r = await c.get(mine, headers=me, params={"limit": 1})
        assert r.status_code == 200 and len(r.json()["items"]) == 1 and r.json()["next_cursor"], r.text
        first = r.json()["items"][0]
        r = await c.get(mine, headers=me, params={"limit": 1, "cursor": r.json()["next_cursor"]})
        assert r.status_code == 200 and r.json()["next_cursor"] is None, r.text
        assert sorted([first["id"], r.json()["items"][0]["id"]]) == sorted(opened)
        assert {first["module_code"], r.json()["items"][0]["module_code"]} == {"C3", "C4"}
        other = await vneid_sign_in(platform, id_number(PROVINCE, 2, 5), "Phạm Văn Khác", "2005-05-05", "male")
        r = await c.get(mine, headers=other)
        assert r.status_code == 200 and r.json() == {"items": [], "next_cursor": None}, r.text
        assert (await c.get(mine, headers=school)).status_code == 403
        assert (await c.get(mine)).status_code == 401
        assert (await c.get(mine, headers=me, params={"cursor": "nonsense"})).status_code == 422
