"""A gradebook hands a class's module scores to records: its components and weights must be the module's own in
records, its module score (records' rules, seen before sending) is the one records stores, the grade arrives through
records' API by person with learning's own client, and sending again changes nothing."""

from __future__ import annotations

import asyncio

import httpx

from services.common.testing import FakeClock, FaultInjectingTransport
from tests.learning.assessment.conftest import Assessment, assessment_app
from tests.learning.assessment.helpers import account, answer_for, bank, citizen, exam, item, roster, single, window
from tests.learning.conftest import People
from tests.records.helpers import code, learner, run_ok
from tests.support import Platform, authority

WEIGHTS = {"ongoing": "0.2", "midterm": "0.2", "final": "0.4", "practical": "0.2"}


async def records_world(platform: Platform, numbers: list[tuple[str, str]]) -> tuple[str, str]:
    """The school's system syncs a programme whose module DCN201 weighs four components, a term, and the learners."""
    p, t, k = code("DCN"), code("HK"), code("K")
    batch = {
        "programmes": [{"code": p, "name": "Điện công nghiệp", "level": "college", "occupation_code": "6520227", "year": 2025,
                        "modules": [{"code": "DCN201", "name": "Lắp đặt điện chiếu sáng", "credits": 3, "weights": WEIGHTS},
                                    {"code": "DCN202", "name": "Máy điện", "credits": 3}]}],
        "terms": [{"code": t, "name": "Học kỳ 2 năm 2025-2026", "start_date": "2026-01-05", "end_date": "2026-06-15"}],
        "cohorts": [{"code": k, "name": "Lớp Điện công nghiệp K1", "programme_code": p, "start_year": 2025}],
        "learners": [learner(number, name, p, k, sex="female") for number, name in numbers],
    }
    async with platform.client("records") as c:
        await run_ok(c, await platform.school_headers(), batch)
    return p, t


async def test_module_score_equals_records_and_a_resend_changes_nothing(platform: Platform, assessment: Assessment,
                                                                       api: httpx.AsyncClient, people: People) -> None:
    teacher, clock = people.teacher, assessment.clock
    (mai, mai_person, mai_number), (lan, lan_person, lan_number) = (await citizen(platform, "Đặng Thị Mai"),
                                                                    await citizen(platform, "Vũ Thị Lan"))
    programme, term = await records_world(platform, [(mai_number, "Đặng Thị Mai"), (lan_number, "Vũ Thị Lan")])
    learners = [{"person_id": mai_person, "full_name": "Đặng Thị Mai"}, {"person_id": lan_person, "full_name": "Vũ Thị Lan"}]

    # the final exam: items worth 12, 5 and 3 points; Mai gets 12 + 5 (85 % → 8.5), Lan 12 (60 % → 6.0)
    b = await bank(api, teacher)
    for points, prompt in ((12, "Tính tiết diện dây dẫn"), (5, "Chọn aptomat"), (3, "Ký hiệu bóng đèn")):
        await item(api, teacher, b["id"], single(prompt, "Đúng", points=points, tags=["cuoi-ky"]))
    keys = {i["id"]: (i["key"], i["points"]) for i in (await api.get(f"/v1/item-banks/{b['id']}/items", headers=teacher)).json()["items"]}
    final = await exam(api, teacher, {"bank_ids": [b["id"]], "blueprint": [{"count": 3}], "duration_minutes": 60, **window(clock)})
    await roster(api, teacher, final["id"], learners)
    for headers, right_points in ((mai, {12, 5}), (lan, {12})):
        attempt = (await api.post(f"/v1/exams/{final['id']}/attempts", headers=headers)).json()
        answers = {i["id"]: answer_for(i, keys[i["id"]][0], right=keys[i["id"]][1] in right_points) for i in attempt["items"]}
        r = await api.post(f"/v1/exam-attempts/{attempt['id']}/submit", json={"answers": answers}, headers=headers)
        assert r.status_code == 200, r.text
    # the practical exam: one task, one assessor; both 9 of 10
    practical = await exam(api, teacher, {"kind": "practical", "title": "Thực hành lắp đặt", **window(clock)}, publish=False)
    r = await api.post(f"/v1/exams/{practical['id']}/tasks", json={"title": "Lắp tủ điện chiếu sáng", "rubric": {"criteria": [
        {"title": "Kết quả", "levels": [{"title": f"{p} điểm", "points": p} for p in (0, 5, 7.5, 9, 10)]}]}}, headers=teacher)
    assert r.status_code == 201, r.text
    task = r.json()
    r = await api.post(f"/v1/exams/{practical['id']}/publish", headers=teacher)
    assert r.status_code == 200, r.text
    cands = {c["full_name"]: c["id"] for c in await roster(api, teacher, practical["id"], learners)}
    for name, level in (("Đặng Thị Mai", "c1.l4"), ("Vũ Thị Lan", "c1.l4")):
        r = await api.put(f"/v1/practical-tasks/{task['id']}/scores/{cands[name]}", json={"levels": {"c1": level}}, headers=teacher)
        assert r.status_code == 200, r.text

    components = [{"key": "ongoing", "label": "Đánh giá thường xuyên", "weight": "0.2"},
                  {"key": "midterm", "label": "Kiểm tra giữa kỳ", "weight": "0.2"},
                  {"key": "final", "label": "Thi kết thúc mô-đun", "weight": "0.4", "source": "exam", "exam_id": final["id"]},
                  {"key": "practical", "label": "Thực hành", "weight": "0.2", "source": "exam", "exam_id": practical["id"]}]
    body = {"title": "Lớp Điện K1 — Lắp đặt điện chiếu sáng", "programme_code": programme, "module_code": "DCN201", "term_code": term,
            "components": components, "roster_from_exam": final["id"]}
    # the weights, the module and the term are records': anything else is refused, naming the field
    r = await api.post("/v1/gradebooks", json=body | {"components": components[:2] + [components[2] | {"weight": "0.6"}]}, headers=teacher)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "components", r.text
    assert "final 0.4" in r.json()["errors"][0]["message"]
    r = await api.post("/v1/gradebooks", json=body | {"module_code": "DCN999"}, headers=teacher)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "module_code", r.text
    r = await api.post("/v1/gradebooks", json=body | {"term_code": "HK-NONE"}, headers=teacher)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "term_code", r.text
    r = await api.post("/v1/gradebooks", json=body | {"institution_code": "CD0101"}, headers=people.other_teacher)
    assert r.status_code == 403, r.text
    r = await api.post("/v1/gradebooks", json=body, headers=people.other_teacher)  # their own school's: not its exams
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "components.2.exam_id", r.text
    r = await api.post("/v1/gradebooks", json=body, headers=teacher)
    assert r.status_code == 201, r.text
    book = r.json()
    assert book["grading_policy_code"] == "TT04-2022" and {x["full_name"] for x in book["rows"]} == {"Vũ Thị Lan", "Đặng Thị Mai"}
    r = await api.get(f"/v1/gradebooks/{book['id']}", headers=people.other_teacher)
    assert r.status_code == 404, r.text
    ids = {x["full_name"]: x["learner_id"] for x in book["rows"]}
    nobody, nobody_sub = await account(platform, "CD0101", "student", "Hồ Văn Khoa")
    r = await api.post(f"/v1/gradebooks/{book['id']}/learners", json={"learners": [{"account": nobody_sub, "full_name": "Hồ Văn Khoa"}]},
                       headers=teacher)
    assert r.status_code == 200 and len(r.json()["rows"]) == 3, r.text
    ids["Hồ Văn Khoa"] = next(x["learner_id"] for x in r.json()["rows"] if x["full_name"] == "Hồ Văn Khoa")

    # Mai: 0.2×8.25 + 0.2×8 + 0.4×8.5 + 0.2×9 = 8.45 → 8.5 (A); Lan: 0.2×5 + 0.2×5.25 + 0.4×6 + 0.2×9 = 6.25 → 6.3 (C),
    # where binary floating point and Python's round() would say 6.2
    entries = [{"learner_id": ids["Đặng Thị Mai"], "component": "ongoing", "score": "8.25"},
               {"learner_id": ids["Đặng Thị Mai"], "component": "midterm", "score": 8},
               {"learner_id": ids["Vũ Thị Lan"], "component": "ongoing", "score": "5"},
               {"learner_id": ids["Vũ Thị Lan"], "component": "midterm", "score": "5.25"},
               {"learner_id": ids["Hồ Văn Khoa"], "component": "ongoing", "score": 9}]
    r = await api.put(f"/v1/gradebooks/{book['id']}/scores", json={"entries": entries + [
        {"learner_id": ids["Vũ Thị Lan"], "component": "final", "score": 10}]}, headers=teacher)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "entries.5.component", r.text  # an exam's score is the exam's
    r = await api.put(f"/v1/gradebooks/{book['id']}/scores", json={"entries": [entries[0] | {"score": "10.5"}]}, headers=teacher)
    assert r.status_code == 422, r.text
    r = await api.put(f"/v1/gradebooks/{book['id']}/scores", json={"entries": entries}, headers=teacher)
    assert r.status_code == 200, r.text
    rows = {x["full_name"]: x for x in r.json()["rows"]}
    assert rows["Đặng Thị Mai"]["components"] == {"ongoing": "8.25", "midterm": "8", "final": "8.5", "practical": "9"}
    assert (rows["Đặng Thị Mai"]["module_score"], rows["Đặng Thị Mai"]["letter"]) == ("8.5", "A")
    assert (rows["Vũ Thị Lan"]["module_score"], rows["Vũ Thị Lan"]["letter"], rows["Vũ Thị Lan"]["passed"]) == ("6.3", "C", True)

    # nothing goes to records before the exams' results are released
    r = await api.post(f"/v1/gradebooks/{book['id']}/send", headers=teacher)
    assert r.status_code == 409 and {e["field"] for e in r.json()["errors"]} == {"components.2.exam_id", "components.3.exam_id"}, r.text
    for e in (final, practical):
        r = await api.post(f"/v1/exams/{e['id']}/release", headers=teacher)
        assert r.status_code == 200, r.text

    r = await api.post(f"/v1/gradebooks/{book['id']}/send", headers=teacher)
    assert r.status_code == 200, r.text
    sent = r.json()
    assert (sent["created"], sent["updated"], sent["unchanged"], sent["incomplete"]) == (2, 0, 0, 1), sent
    outcome = {x["full_name"]: x for x in sent["items"]}
    assert (outcome["Đặng Thị Mai"]["score"], outcome["Vũ Thị Lan"]["score"]) == ("8.5", "6.3")  # what records computed
    assert outcome["Hồ Văn Khoa"]["outcome"] == "incomplete"

    # the learner's transcript in records shows the module with the gradebook's score
    async with platform.client("records") as rc:
        r = await rc.get("/v1/me/records", headers=mai)
        enrolment = next(e for x in r.json() for e in x["enrolments"] if e["programme_code"] == programme)
        r = await rc.get(f"/v1/enrolments/{enrolment['id']}/transcript", headers=mai)
        assert r.status_code == 200, r.text
        result = next(m for m in r.json()["results"] if m["module_code"] == "DCN201")
        assert (result["score"], result["letter"]) == ("8.5", "A")
        grade_id = outcome["Đặng Thị Mai"]["grade_id"]

        # sending again changes nothing, in learning or in records (no new version, no new audit entry)
        r = await api.post(f"/v1/gradebooks/{book['id']}/send", headers=teacher)
        assert (r.json()["created"], r.json()["updated"], r.json()["unchanged"]) == (0, 0, 2), r.json()
        school = await platform.school_headers()
        r = await rc.get(f"/v1/grades/{grade_id}/history", headers=school)
        assert len(r.json()) == 1 and r.json()[0]["new"]["components"] == {"ongoing": "8.25", "midterm": "8", "final": "8.5", "practical": "9"}

        # a corrected score: that learner's grade is updated (audited in records), the other is not sent again
        r = await api.put(f"/v1/gradebooks/{book['id']}/scores", json={"entries": [entries[0] | {"score": "6"}]}, headers=teacher)
        assert {x["full_name"]: x["module_score"] for x in r.json()["rows"]}["Đặng Thị Mai"] == "8"  # 1.2 + 1.6 + 3.4 + 1.8
        r = await api.post(f"/v1/gradebooks/{book['id']}/send", headers=teacher)
        assert (r.json()["updated"], r.json()["unchanged"]) == (1, 1), r.json()
        r = await rc.get(f"/v1/grades/{grade_id}", headers=school)
        assert (r.json()["score"], r.json()["letter"], r.json()["version"]) == ("8", "B", 2)
        r = await rc.get(f"/v1/grades/{grade_id}/history", headers=school)
        assert len(r.json()) == 2 and r.json()[1]["actor"].startswith("client:")

    r = await api.get(f"/v1/gradebooks/{book['id']}", headers=teacher)
    state = {x["full_name"]: x["records"] for x in r.json()["rows"]}
    assert state["Đặng Thị Mai"]["status"] == "sent" and state["Đặng Thị Mai"]["score"] == "8" and state["Đặng Thị Mai"]["version"] == 2
    assert state["Hồ Văn Khoa"]["status"] == "not_sent"


async def test_records_unavailable_is_waited_out_and_a_refusal_is_reported_per_learner(platform: Platform, people: People) -> None:
    """Records answering 503 is tried again (waiting on the app's clock, never in real time) with the same
    Idempotency-Key; what records refuses (a person who is not its learner) is that learner's failure, named, and the
    others go through."""
    clock = FakeClock()
    faults = FaultInjectingTransport(platform.transport, clock)
    async with assessment_app(platform, faults, clock) as a, a.client() as api:
        teacher = people.teacher
        (_, mai_person, mai_number), (_, stranger_person, _) = await citizen(platform, "Đặng Thị Mai"), await citizen(platform, "Lạ")
        programme, term = await records_world(platform, [(mai_number, "Đặng Thị Mai")])
        r = await api.post("/v1/gradebooks", headers=teacher, json={
            "title": "Lớp Điện K2", "programme_code": programme, "module_code": "DCN202", "term_code": term,
            "components": [{"key": "continuous", "label": "Thường xuyên", "weight": "0.4"}, {"key": "final", "label": "Thi", "weight": "0.6"}],
            "learners": [{"person_id": mai_person, "full_name": "Đặng Thị Mai"}, {"person_id": stranger_person, "full_name": "Người lạ"}]})
        assert r.status_code == 201, r.text
        book = r.json()
        r = await api.put(f"/v1/gradebooks/{book['id']}/scores", headers=teacher, json={"entries": [
            {"learner_id": x["learner_id"], "component": k, "score": "7"} for x in book["rows"] for k in ("continuous", "final")]})
        assert r.status_code == 200, r.text

        faults.fail(authority("records"), 503)
        sending = asyncio.create_task(api.post(f"/v1/gradebooks/{book['id']}/send", headers=teacher))
        await clock.until_parked(2)  # the sweeper, and the send waiting to try again
        faults.restore(authority("records"))
        await clock.advance(5, step=1)
        r = await asyncio.wait_for(sending, 60)
        assert r.status_code == 200, r.text
        items = {x["full_name"]: x for x in r.json()["items"]}
        assert items["Đặng Thị Mai"]["outcome"] == "created" and items["Đặng Thị Mai"]["score"] == "7"
        assert items["Người lạ"]["outcome"] == "failed" and items["Người lạ"]["errors"][0]["field"] == "person_id"
        tries = [x for x in faults.exchanges if x.url.endswith("/grades")]
        assert [x.status for x in tries] == [503, 422, 201], tries  # the refused call again, then each learner once
        assert tries[0].idempotency_key == tries[1].idempotency_key
