"""Soft-skills e-courses demo (Decision 123), against a running `make run`:

    .venv/bin/python demo/courses.py [http://127.0.0.1:8000]

student.demo finds "Kỹ năng giao tiếp" in the public catalogue (typed without diacritics), enrols, completes the
lessons (the first reported by xAPI with the launch's own Basic credentials, as SCORM/cmi5 content would), passes
the quiz, and then holds a course certificate that the public verification API accepts; teacher.demo does the same
with the digital-competence course; ministry.demo's report and the Decision 123 targets count both.
Safe to run again (enrolments and certificates are idempotent)."""

from __future__ import annotations

import time
from typing import Any

import httpx
from _client import check, expect, gateway, sign_in, step

#: what a learner who read the lessons answers, by question
ANSWERS: dict[str, Any] = {
    "Lắng nghe chủ động là gì?": "Tập trung và phản hồi người nói",
    "Giao tiếp phi ngôn ngữ cũng truyền tải thông điệp.": True,
    "Phản hồi tốt cần:": {"Cụ thể", "Kịp thời"},
    "Giấy phép CC-BY yêu cầu điều gì khi dùng lại học liệu?": "Ghi nguồn tác giả",
    "Ghép công cụ với mục đích": {"Kho học liệu": "Tìm bài giảng dùng chung", "Lớp học trực tuyến": "Dạy học từ xa"},
    "Mã xác thực hai lớp thường có bao nhiêu chữ số?": 6,
}
XAPI = {"X-Experience-API-Version": "1.0.3"}


def answer(question: dict[str, Any]) -> Any:
    """The answer as the learner gives it: choices and matching sides by the ids shown (the key never leaves the server)."""
    known = ANSWERS[question["prompt"]]
    kind = question["kind"]
    if kind == "single":
        return next(ch["id"] for ch in question["choices"] if ch["text"] == known)
    if kind == "multiple":
        return [ch["id"] for ch in question["choices"] if ch["text"] in known]
    if kind == "matching":
        right = {o["text"]: o["id"] for o in question["right"]}
        return {o["id"]: right[known[o["text"]]] for o in question["left"]}
    return known


def take_course(c: httpx.Client, who: str, me: dict[str, str], course: dict[str, Any]) -> dict[str, Any]:
    r = expect(c.post(f"/api/learning/v1/courses/{course['id']}/enrolments", headers=me), 200, 201)
    enrolment = r.json()
    step(f"{who} enrols in “{course['title']}” ({'new' if r.status_code == 201 else 'already enrolled'})")
    detail = expect(c.get(f"/api/learning/v1/courses/{course['id']}", headers=me)).json()
    lessons = [lesson for module in detail["modules"] for lesson in module["lessons"]]
    for i, lesson in enumerate(lessons):
        if i == 0:
            launch = expect(c.post(f"/api/learning/v1/enrolments/{enrolment['id']}/lessons/{lesson['id']}/launch", headers=me), 201).json()
            statement = {"actor": launch["actor"], "object": {"objectType": "Activity", "id": launch["activity_id"]},
                         "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"vi-VN": "đã hoàn thành"}},
                         "context": {"registration": launch["registration"]}}
            expect(c.post("/api/learning/v1/xapi/statements", json=statement, headers=XAPI | {"Authorization": launch["auth"]}))
            step(f"  lesson “{lesson['title']}” completed, reported by xAPI (Basic launch credentials)")
        else:
            expect(c.post(f"/api/learning/v1/enrolments/{enrolment['id']}/lessons/{lesson['id']}/progress",
                          json={"event": "completed"}, headers=me))
            step(f"  lesson “{lesson['title']}” completed")
    quiz = detail["quizzes"][0]
    r = c.post(f"/api/learning/v1/enrolments/{enrolment['id']}/quizzes/{quiz['id']}/attempts", headers=me)
    if r.status_code == 409:  # a rerun: the attempts are used up, the course was passed before
        step("  quiz: no attempts left (passed on an earlier run)")
    else:
        attempt = expect(r, 200, 201).json()
        check("correct" not in r.text, "the quiz as sent to the learner carries no answer key")
        graded = expect(c.post(f"/api/learning/v1/attempts/{attempt['id']}/submit",
                               json={"answers": {q["id"]: answer(q) for q in attempt["questions"]}}, headers=me)).json()
        step(f"  quiz graded on the server: {graded['score']} / 100, passed: {graded['passed']}")
        check(graded["passed"], "the quiz is passed")
    state = expect(c.get(f"/api/learning/v1/enrolments/{enrolment['id']}", headers=me)).json()
    check(state["status"] == "completed", f"{who}'s enrolment is completed (it is {state['status']})")
    return state


def certificate(c: httpx.Client, me: dict[str, str], title: str) -> dict[str, Any]:
    for _ in range(120):  # issued by the credentials service from learning's completion event
        found = [i for i in expect(c.get("/api/credentials/v1/credentials", headers=me)).json()["items"] if title in i["title"]]
        if found:
            return found[0]
        time.sleep(0.5)
    check(False, f"a certificate for “{title}” was issued")
    raise AssertionError


def main() -> None:
    with gateway() as c:
        found = expect(c.get("/api/learning/v1/courses", params={"q": "ky nang giao tiep"})).json()["items"]
        step(f"public catalogue, typed without diacritics “ky nang giao tiep”: {[x['title'] for x in found]}")
        course = next(x for x in found if x["title"] == "Kỹ năng giao tiếp")

        student = sign_in(c, "student.demo", "dev-only-Student#2026")
        take_course(c, "student.demo", student, course)
        cert = certificate(c, student, course["title"])
        step(f"student.demo holds “{cert['title']}” ({cert['id']})")
        result = expect(c.get(f"/api/credentials/v1/verify/{cert['id']}")).json()
        step(f"  public GET /verify/{{id}}: {result['outcome']}, checks {[(x['check'], x['passed']) for x in result['checks']]}")
        check(result["verified"], "the certificate verifies")
        document = expect(c.get(f"/api/credentials/v1/credentials/{cert['id']}/document", headers=student)).json()
        result = expect(c.post("/api/credentials/v1/verify", json=document)).json()
        step(f"  public POST /verify of the signed JSON ({', '.join(document['type'])}): {result['outcome']}")
        check(result["verified"], "the certificate's document verifies")

        teacher = sign_in(c, "teacher.demo", "dev-only-Teacher#2026")
        teachers = expect(c.get("/api/learning/v1/courses", params={"audience": "teachers"}, headers=teacher)).json()["items"]
        digital = next(x for x in teachers if x["title"].startswith("Năng lực số"))
        take_course(c, "teacher.demo", teacher, digital)
        cert = certificate(c, teacher, digital["title"])
        step(f"teacher.demo holds “{cert['title']}” ({cert['id']})")

        officer = sign_in(c, "ministry.demo", "dev-only-Ministry#2026")
        for _ in range(60):  # "certified" follows the credentials service's issued event
            rows = {r["key"]: r for r in expect(c.get("/api/learning/v1/course-reports", params={"group_by": "audience"},
                                                      headers=officer)).json()["rows"]}
            if all(rows.get(a, {}).get("certified", 0) >= 1 for a in ("student", "teacher")):
                break
            time.sleep(0.5)
        for audience in ("student", "teacher"):
            row = rows.get(audience, {})
            step(f"ministry.demo's report, {audience}s: enrolled {row.get('enrolled')}, completed {row.get('completed')}, "
                 f"certified {row.get('certified')}")
            check(row.get("completed", 0) >= 1 and row.get("certified", 0) >= 1, f"the report counts the {audience}")
        targets = expect(c.get("/api/learning/v1/course-reports/targets", headers=officer)).json()
        step(f"Decision 123 targets: teachers trained {targets['teachers_trained']['trained']} / "
             f"{targets['teachers_trained']['target']}, students trained anywhere {targets['students_trained_everywhere']}")
        check(targets["teachers_trained"]["trained"] >= 1 and targets["students_trained_everywhere"] >= 1, "the targets count both")
        for row in targets["institution_coverage"]:
            step(f"  2030 coverage, {row['institution_type']}: {row['institutions_trained']} of {row['institutions']} institutions "
                 f"({row['share']:.0%}; target {row['target']:.0%})")
        college = next(r for r in targets["institution_coverage"] if r["institution_type"] == "college")
        check(college["institutions_trained"] >= 1, "the student's college counts toward the coverage target")
        csv = expect(c.get("/api/learning/v1/course-reports", params={"group_by": "audience", "format": "csv"}, headers=officer))
        step("CSV export:\n" + csv.text.strip())
    print("courses demo: OK")


if __name__ == "__main__":
    main()
