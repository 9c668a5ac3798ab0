"""Practical assessment: a task judged against an analytic rubric (critical criteria must pass), an enterprise
assessor invited to one exam by a one-time code (a capability scoped to that exam), double marking with moderation
when the two differ by more than the threshold, an audit trail of every change, and evidence files checked by their
bytes and bounded in size."""

from __future__ import annotations

from datetime import timedelta

import httpx

from tests.learning.assessment.conftest import Assessment
from tests.learning.assessment.helpers import account, exam, roster, window
from tests.learning.conftest import People
from tests.learning.helpers import login
from tests.support import Platform

SCHOOL_ADMIN = ("schooladmin.demo", "dev-only-SchoolAdmin#2026")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(range(256)) * 8
RUBRIC = {"criteria": [
    {"title": "An toàn điện (cắt nguồn, thử điện, nối đất)", "critical": True, "min_points": 2,
     "levels": [{"title": "Vi phạm", "points": 0}, {"title": "Thiếu sót", "points": 1}, {"title": "Đạt", "points": 2}, {"title": "Tốt", "points": 3}]},
    {"title": "Đấu nối đúng sơ đồ", "levels": [{"title": "Sai", "points": 0}, {"title": "Đúng một phần", "points": 2}, {"title": "Đúng", "points": 4}]},
    {"title": "Thẩm mỹ, gọn gàng", "levels": [{"title": "Chưa đạt", "points": 0}, {"title": "Đạt", "points": 1}, {"title": "Tốt", "points": 2}]},
]}


def levels(safety: int, wiring: int, tidy: int) -> dict[str, str]:
    """Level numbers (1-based) per criterion, as the rubric's ids."""
    return {"c1": f"c1.l{safety}", "c2": f"c2.l{wiring}", "c3": f"c3.l{tidy}"}


async def test_rubric_moderation_audit_assessors_and_evidence(platform: Platform, assessment: Assessment, api: httpx.AsyncClient,
                                                             people: People) -> None:
    teacher, clock = people.teacher, assessment.clock
    school_admin = await login(platform, *SCHOOL_ADMIN)
    e = await exam(api, teacher, {"kind": "practical", "title": "Thực hành lắp đặt mạch điện chiếu sáng", **window(clock, hours=4)},
                   publish=False)
    r = await api.post(f"/v1/exams/{e['id']}/publish", headers=teacher)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "tasks", r.text
    bad = {"title": "Lắp mạch", "rubric": {"criteria": [RUBRIC["criteria"][0] | {"min_points": None}]}}
    r = await api.post(f"/v1/exams/{e['id']}/tasks", json=bad, headers=teacher)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "rubric.criteria.0.min_points", r.text
    r = await api.post(f"/v1/exams/{e['id']}/tasks", json={"title": "Lắp mạch đèn cầu thang hai công tắc", "rubric": RUBRIC,
                                                         "pass_mark": 50, "assessors_required": 2, "moderation_threshold": 2}, headers=teacher)
    assert r.status_code == 201 and r.json()["max_points"] == 9, r.text
    task = r.json()
    r = await api.post(f"/v1/exams/{e['id']}/publish", headers=teacher)
    assert r.status_code == 200, r.text
    (an, an_sub), (binh, binh_sub) = await account(platform, "CD0101", "student", "An"), await account(platform, "CD0101", "student", "Bình")
    cands = {c["full_name"]: c["id"] for c in await roster(api, teacher, e["id"], [{"account": an_sub, "full_name": "Lê Văn An"},
                                                                                  {"account": binh_sub, "full_name": "Trần Thị Bình"}])}
    a, b = cands["Lê Văn An"], cands["Trần Thị Bình"]
    score = f"/v1/practical-tasks/{task['id']}/scores"

    # the enterprise assessor has an account and no role at the school: nothing to see until invited
    expert, expert_sub = await account(platform, "", "", "Đỗ Văn Tâm")
    r = await api.get(f"/v1/exams/{e['id']}", headers=expert)
    assert r.status_code == 404, r.text
    r = await api.post(f"/v1/exams/{e['id']}/assessor-invitations", json={"name": "Đỗ Văn Tâm", "organisation": "Công ty Điện lực Hà Nội"},
                       headers=expert)
    assert r.status_code == 404, r.text
    r = await api.post(f"/v1/exams/{e['id']}/assessor-invitations", json={"name": "Đỗ Văn Tâm", "organisation": "Công ty Điện lực Hà Nội",
                                                                        "valid_days": 3}, headers=teacher)
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    r = await api.get(f"/v1/exams/{e['id']}/assessor-invitations", headers=teacher)
    assert "code" not in r.json()[0] and code not in r.text
    r = await api.post("/v1/assessor-invitations/accept", json={"code": code[::-1]}, headers=expert)
    assert r.status_code == 404, r.text
    r = await api.post("/v1/assessor-invitations/accept", json={"code": code}, headers=expert)
    assert r.status_code == 200 and r.json()["accepted_by"] == expert_sub, r.text
    someone_else, _ = await account(platform, "", "", "Người khác")
    r = await api.post("/v1/assessor-invitations/accept", json={"code": code}, headers=someone_else)
    assert r.status_code == 409, r.text
    r = await api.get("/v1/me/assessing", headers=expert)
    assert [x["exam_id"] for x in r.json()] == [e["id"]]
    # the capability is this exam: its tasks, roster, scoring — not the school's other exams, banks or gradebooks
    for path in (f"/v1/exams/{e['id']}", f"/v1/exams/{e['id']}/tasks", f"/v1/exams/{e['id']}/roster"):
        r = await api.get(path, headers=expert)
        assert r.status_code == 200, (path, r.text)
    other = await exam(api, teacher, {"kind": "practical", "title": "Kỳ thi khác", **window(clock)}, publish=False)
    r = await api.get(f"/v1/exams/{other['id']}", headers=expert)
    assert r.status_code == 404, r.text
    r = await api.get("/v1/item-banks", headers=expert)
    assert r.status_code == 200 and r.json()["items"] == [], r.text
    r = await api.post(f"/v1/exams/{e['id']}/release", headers=expert)
    assert r.status_code == 403, r.text
    # an invitation not taken in time has expired
    r = await api.post(f"/v1/exams/{e['id']}/assessor-invitations", json={"name": "B", "organisation": "C", "valid_days": 1}, headers=teacher)
    late = r.json()["code"]

    # An: the expert 3+4+1 = 8, the teacher 3+4+2 = 9: within 2 points → each criterion's mean, 8.5 of 9
    r = await api.put(f"{score}/{a}", json={"levels": levels(4, 3, 2), "comment": "Làm đúng quy trình"}, headers=expert)
    assert r.status_code == 200 and r.json()["points"] == 8, r.text
    await clock.advance(60, step=60)
    r = await api.get(f"{score}/{a}", headers=teacher)
    assert r.json()["outcome"]["status"] == "pending"
    r = await api.put(f"{score}/{a}", json={"levels": levels(4, 3, 3)}, headers=teacher)
    assert r.status_code == 200 and r.json()["points"] == 9, r.text
    r = await api.get(f"{score}/{a}", headers=teacher)
    outcome = r.json()["outcome"]
    assert (outcome["status"], outcome["points"], outcome["percent"], outcome["passed"]) == ("final", 8.5, 94.44, True)
    # a judgement names every criterion with one of its own levels; a third assessor is one too many
    r = await api.put(f"{score}/{b}", json={"levels": {"c1": "c1.l4", "c2": "c3.l1"}}, headers=expert)
    assert r.status_code == 422 and {x["field"] for x in r.json()["errors"]} == {"levels.c2", "levels.c3"}, r.text
    r = await api.put(f"{score}/{a}", json={"levels": levels(4, 3, 3)}, headers=school_admin)
    assert r.status_code == 409, r.text

    # Bình: the expert 1+4+2 = 7, the teacher 1+2+1 = 4: 3 points apart → a moderator
    r = await api.put(f"{score}/{b}", json={"levels": levels(2, 3, 3)}, headers=expert)
    assert r.status_code == 200, r.text
    r = await api.put(f"{score}/{b}", json={"levels": levels(2, 2, 2)}, headers=teacher)
    r = await api.get(f"{score}/{b}", headers=teacher)
    assert r.json()["outcome"]["status"] == "needs_moderation" and r.json()["outcome"]["difference"] == 3
    r = await api.post(f"/v1/exams/{e['id']}/release", headers=teacher)
    assert r.status_code == 409 and r.json()["needs_moderation"] == 1, r.text
    r = await api.put(f"{score}/{b}/moderation", json={"levels": levels(2, 3, 3), "reason": "xem lại"}, headers=teacher)
    assert r.status_code == 403, r.text  # one of the two assessors
    r = await api.put(f"{score}/{b}/moderation", json={"levels": levels(2, 3, 3), "reason": "xem lại"}, headers=expert)
    assert r.status_code == 403, r.text  # an invited assessor scores; moderation is the school's
    r = await api.put(f"{score}/{b}/moderation", json={"levels": levels(2, 3, 3)}, headers=school_admin)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason", r.text
    r = await api.put(f"{score}/{b}/moderation", json={"levels": levels(2, 3, 2), "reason": "xem video: đấu đúng, chưa thử điện"},
                      headers=school_admin)
    assert r.status_code == 200, r.text
    r = await api.get(f"{score}/{b}", headers=teacher)
    outcome = r.json()["outcome"]
    # 1 + 4 + 1 = 6 of 9 (66.67 %, over the pass mark) — but safety is critical and 1 is under its minimum of 2
    assert (outcome["status"], outcome["points"], outcome["passed"], outcome["critical_failed"]) == ("final", 6, False, ["c1"])

    # the expert changes An's score: a new version, and the trail has every judgement with old → new
    await clock.advance(60, step=60)
    r = await api.put(f"{score}/{a}", json={"levels": levels(4, 3, 2), "comment": "Làm đúng quy trình"}, headers=expert)
    assert r.status_code == 200 and r.json()["version"] == 1, r.text  # the same again: no change, nothing audited
    r = await api.put(f"{score}/{a}", json={"levels": levels(4, 3, 3), "comment": "Đã xem lại ảnh: gọn gàng"}, headers=expert)
    assert r.status_code == 200 and r.json()["version"] == 2, r.text
    r = await api.get(f"{score}/{a}", headers=teacher)
    trail = r.json()["audit"]
    assert [(x["role"], x["version"], x["old"] and x["old"]["points"], x["new"]["points"]) for x in trail] == [
        ("assessor", 1, None, 8), ("assessor", 1, None, 9), ("assessor", 2, 8, 9)]
    assert trail[0]["actor"] == trail[2]["actor"] == expert_sub
    r = await api.get(f"{score}/{a}", headers=expert)
    assert r.json()["audit"] == [] and [s["assessor"] for s in r.json()["scores"]] == [expert_sub]  # only their own
    assert r.json()["outcome"]["points"] is None

    # evidence: the learner's photo during the window; the bytes decide the type; bounded; others do not see it
    evidence = f"/v1/practical-tasks/{task['id']}/evidence"
    r = await api.put(f"{evidence}/{a}", content=JPEG, params={"filename": "mạch đèn.jpg", "note": "Ảnh sau khi lắp"},
                      headers=an | {"Content-Type": "image/jpeg"})
    assert r.status_code == 201 and r.json()["content_type"] == "image/jpeg", r.text
    r = await api.put(f"{evidence}/{a}", content=b"<!doctype html><script>alert(1)</script>", headers=an | {"Content-Type": "image/jpeg"})
    assert r.status_code == 415, r.text
    r = await api.put(f"{evidence}/{a}", content=JPEG * 200, headers=expert | {"Content-Type": "image/jpeg"})
    assert r.status_code == 413, r.text
    r = await api.put(f"{evidence}/{a}", content=JPEG, headers=binh)
    assert r.status_code == 404, r.text  # not Bình's to add
    r = await api.get(f"{evidence}/{a}", headers=binh)
    assert r.status_code == 404, r.text
    r = await api.get(f"{evidence}/{a}", headers=expert)
    assert r.status_code == 200 and [x["filename"] for x in r.json()] == ["mạch đèn.jpg"], r.text
    r = await api.get(f"/v1/practical-evidence/{r.json()[0]['id']}/download", headers=expert)
    assert r.status_code == 200 and r.json()["size"] == len(JPEG), r.text

    # release: the learners see the outcome; scores change afterwards only with a reason; the evidence is closed
    r = await api.post(f"/v1/exams/{e['id']}/release", headers=teacher)
    assert r.status_code == 200, r.text
    r = await api.get(f"/v1/exams/{e['id']}/my-result", headers=binh)
    mine = r.json()
    assert mine["released"] and mine["passed"] is False and mine["tasks"][0]["critical_failed"] == ["c1"], mine
    r = await api.get(f"/v1/exams/{e['id']}/my-result", headers=an)
    assert r.json()["score"] == 100.0 and r.json()["score_10"] == "10.0", r.text  # both now 3+4+2
    r = await api.put(f"{score}/{a}", json={"levels": levels(4, 3, 2)}, headers=teacher)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason", r.text
    r = await api.put(f"{evidence}/{a}", content=JPEG, headers=an | {"Content-Type": "image/jpeg"})
    assert r.status_code == 409, r.text

    # withdrawn: the expert no longer sees the exam; an invitation not accepted in time has expired
    invitation = (await api.get(f"/v1/exams/{e['id']}/assessor-invitations", headers=teacher)).json()[0]
    r = await api.post(f"/v1/assessor-invitations/{invitation['id']}/revoke", headers=teacher)
    assert r.status_code == 200 and r.json()["revoked_at"], r.text
    r = await api.get(f"/v1/exams/{e['id']}", headers=expert)
    assert r.status_code == 404, r.text
    await clock.advance(timedelta(days=2).total_seconds(), step=86400)
    r = await api.post("/v1/assessor-invitations/accept", json={"code": late}, headers=someone_else)
    assert r.status_code == 409 and "expired" in r.json()["detail"], r.text
