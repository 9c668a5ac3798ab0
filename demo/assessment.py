"""Online skills assessment demo, against a running `make run`:

    .venv/bin/python demo/assessment.py [http://127.0.0.1:8000]

The demo school's system puts a programme "Điện công nghiệp" in records (module DCN201 weighed ongoing 0.2,
mid-term 0.2, final exam 0.4, practical 0.2) with two learners: Trần Văn Minh (student.demo) and Lê Thị Hồng Nhung
(who signs in with VNeID). teacher.demo builds an item bank for the module, a timed written exam drawn from it (a
form per learner, extra time for Nhung) and a practical exam judged against a rubric; both students sit the written
exam; assessor.demo, an enterprise assessor, accepts the teacher's invitation and scores the practical task with the
photo Minh handed in as evidence; the teacher scores the essays, releases the results, fills the gradebook and sends
it to records — and the module's score appears in each student's transcript. Safe to run again: the bank is reused,
the exams and gradebook are new, and records' grades stay as they are when nothing changed."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from _client import check, client_token, expect, gateway, path_of, sign_in, step

L = "/api/learning/v1"
INSTITUTION, PROGRAMME, MODULE, TERM = "CD0101", "DCN-CD-2025", "DCN201", "HK2-2025-2026"
WEIGHTS = {"ongoing": "0.2", "midterm": "0.2", "final": "0.4", "practical": "0.2"}
STUDENTS = {"001203012345": ("Trần Văn Minh", "2003-05-14", "male"), "079304056789": ("Lê Thị Hồng Nhung", "2004-09-02", "female")}
#: a photo of the finished installation (a JPEG's first bytes; the platform decides the type from them)
PHOTO = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(range(256)) * 16

ITEMS: list[dict[str, Any]] = [
    {"kind": "single", "prompt": "Thiết bị nào bảo vệ người khỏi dòng điện rò?", "tags": ["ly-thuyet"], "difficulty": "easy",
     "choices": [{"text": "Aptomat chống giật (RCD)", "correct": True}, {"text": "Cầu dao"}, {"text": "Công tắc hai cực"}]},
    {"kind": "multiple", "prompt": "Những thiết bị nào bảo vệ quá dòng?", "tags": ["ly-thuyet"],
     "choices": [{"text": "Aptomat", "correct": True}, {"text": "Cầu chì", "correct": True}, {"text": "Đèn báo pha"}]},
    {"kind": "true_false", "prompt": "Dây bảo vệ (PE) có màu vàng – xanh lá.", "answer": True, "tags": ["ly-thuyet"], "difficulty": "easy"},
    {"kind": "numeric", "prompt": "Bóng đèn 220 V – 100 W tiêu thụ dòng điện bao nhiêu ampe (hai chữ số thập phân)?",
     "answer": 0.45, "tolerance": 0.01, "tags": ["ly-thuyet"], "difficulty": "hard"},
    {"kind": "ordering", "prompt": "Sắp xếp các bước cắt điện an toàn trước khi sửa chữa.", "tags": ["ly-thuyet"],
     "sequence": ["Thông báo cho người liên quan", "Cắt aptomat tổng", "Treo biển “Cấm đóng điện”", "Thử lại bằng bút thử điện"]},
    {"kind": "cloze", "prompt": "Điện áp pha của lưới hạ thế là {{1}} V, tần số {{2}} Hz.", "tags": ["ly-thuyet"],
     "blanks": [{"accepted": ["220", "230"]}, {"accepted": ["50"]}]},
    {"kind": "matching", "prompt": "Ghép ký hiệu dây với tên gọi.", "tags": ["ly-thuyet"],
     "pairs": [{"left": "L", "right": "Dây pha"}, {"left": "N", "right": "Dây trung tính"}, {"left": "PE", "right": "Dây bảo vệ"}]},
    {"kind": "essay", "prompt": "Trình bày cách đo điện trở cách điện của một mạch chiếu sáng.", "points": 3, "tags": ["tu-luan"],
     "guidance": "Megomet 500 V; cắt nguồn, tháo tải; đo pha – vỏ, trung tính – vỏ; đạt khi ≥ 0,5 MΩ"},
]
ESSAYS = {"Trần Văn Minh": "Cắt nguồn, tháo bóng, dùng megomet 500 V đo giữa pha và vỏ, giữa trung tính và vỏ; đạt khi trên 0,5 MΩ.",
          "Lê Thị Hồng Nhung": "Dùng megomet đo giữa dây pha và dây trung tính."}
ESSAY_POINTS = {"Trần Văn Minh": 3, "Lê Thị Hồng Nhung": 1.5}
#: entered components: đánh giá thường xuyên, kiểm tra giữa kỳ
ENTERED = {"Trần Văn Minh": {"ongoing": "8.5", "midterm": "8"}, "Lê Thị Hồng Nhung": {"ongoing": "7", "midterm": "6.5"}}


def vneid_sign_in(c: httpx.Client, alias: str) -> dict[str, str]:
    """A browser through the VNeID stand-in, back to the front end with a one-time code it exchanges for tokens."""
    r = expect(c.get("/api/identity/v1/auth/vneid/login", params={"login_hint": alias}), 302)
    for _ in range(5):
        location = r.headers["location"]
        if set(parse_qs(urlsplit(location).query)) == {"code"}:
            break
        r = expect(c.get(location), 302)
    code = parse_qs(urlsplit(location).query)["code"][0]
    r = expect(c.post("/api/identity/v1/auth/vneid/token", json={"code": code}))
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def records_class(c: httpx.Client, school: dict[str, str]) -> None:
    """The school's system: the programme with the module's weights, the term, the two learners enrolled."""
    expect(c.put(f"/api/records/v1/institutions/{INSTITUTION}/programmes/{PROGRAMME}", headers=school, json={
        "code": PROGRAMME, "name": "Điện công nghiệp", "level": "college", "occupation_code": "6520227", "year": 2025,
        "modules": [{"code": MODULE, "name": "Lắp đặt hệ thống điện chiếu sáng", "credits": 3, "weights": WEIGHTS},
                    {"code": "DCN202", "name": "Máy điện", "credits": 4}]}), 200, 201)
    expect(c.put(f"/api/records/v1/institutions/{INSTITUTION}/terms/{TERM}", headers=school,
                 json={"code": TERM, "name": "Học kỳ 2 năm học 2025-2026", "start_date": "2026-01-05", "end_date": "2026-06-15"}), 200, 201)
    learners = [{"id_number": number, "full_name": name, "date_of_birth": born, "sex": sex, "programme_code": PROGRAMME,
                 "enrolled_on": "2025-09-05"} for number, (name, born, sex) in STUDENTS.items()]
    job = expect(c.post(f"/api/records/v1/institutions/{INSTITUTION}/sync/json", headers=school, json={"learners": learners}), 202).json()
    for _ in range(240):
        job = expect(c.get(f"/api/records/v1/sync-jobs/{job['id']}", headers=school)).json()
        if job["status"] not in ("queued", "running"):
            break
        time.sleep(0.5)
    check(job["status"] == "succeeded", f"the learners are synced (job {job['status']})")
    step(f"records: programme {PROGRAMME}, module {MODULE} weighed {WEIGHTS}; term {TERM}; 2 learners enrolled")


def the_class(c: httpx.Client, teacher: dict[str, str]) -> list[dict[str, Any]]:
    """The learners of the programme as records lists them to the teacher (person ids; ID numbers stay masked)."""
    found, cursor = [], None
    while True:
        page = expect(c.get(f"/api/records/v1/institutions/{INSTITUTION}/learners", headers=teacher,
                            params={"limit": 500} | ({"cursor": cursor} if cursor else {}))).json()
        found += [x for x in page["items"] if any(e["programme_code"] == PROGRAMME for e in x["enrolments"])]
        cursor = page["next_cursor"]
        if not cursor:
            break
    check(all(x["id_number_masked"] for x in found), "the teacher sees the learners' ID numbers masked")
    return [{"person_id": x["person_id"], "full_name": x["full_name"]} for x in found if x["full_name"] in ESSAYS]


def item_bank(c: httpx.Client, teacher: dict[str, str]) -> dict[str, Any]:
    banks = expect(c.get(f"{L}/item-banks", params={"occupation": "6520227", "module": MODULE}, headers=teacher)).json()["items"]
    bank = next((b for b in banks if b["scope"] == INSTITUTION), None)
    if bank is None:
        bank = expect(c.post(f"{L}/item-banks", headers=teacher, json={
            "occupation_code": "6520227", "module_code": MODULE, "title": "Ngân hàng câu hỏi: Lắp đặt điện chiếu sáng"}), 201).json()
    items = expect(c.get(f"{L}/item-banks/{bank['id']}/items", params={"status": "active", "limit": 100}, headers=teacher)).json()["items"]
    if not items:
        items = [expect(c.post(f"{L}/item-banks/{bank['id']}/items", json=body, headers=teacher), 201).json() for body in ITEMS]
    step(f"teacher.demo: item bank “{bank['title']}” ({bank['occupation_code']}/{bank['module_code']}), "
         f"{len(items)} items: {', '.join(sorted({i['kind'] for i in items}))}")
    return {"bank": bank, "keys": {i["id"]: i["key"] for i in items}}


def answer(shown: dict[str, Any], key: dict[str, Any], knows: bool) -> Any:
    """What a learner who knows the answer gives, by the ids the form shows (the key never reaches the learner)."""
    kind = shown["kind"]
    if kind in ("single", "multiple"):
        return key["ids"][0] if kind == "single" else list(key["ids"])
    if kind == "true_false":
        return key["value"]
    if kind == "numeric":
        return key["value"] if knows else 2.2
    if kind == "ordering":
        return list(key["order"])
    if kind == "cloze":
        return [b["accepted"][0] for b in key["blanks"]]
    if kind == "matching":
        return dict(key["pairs"])
    raise AssertionError(kind)


def main() -> None:
    with gateway() as c:
        school = client_token(c, "demo-school-sis", "dev-only-demo-school-secret")
        teacher = sign_in(c, "teacher.demo", "dev-only-Teacher#2026")
        records_class(c, school)
        learners = the_class(c, teacher)
        check(len(learners) == 2, "records lists both learners of the programme")
        minh = sign_in(c, "student.demo", "dev-only-Student#2026")
        nhung = vneid_sign_in(c, "nhung")
        students = {"Trần Văn Minh": minh, "Lê Thị Hồng Nhung": nhung}
        step("student.demo (Trần Văn Minh) signs in with his password, Lê Thị Hồng Nhung with VNeID")

        bank = item_bank(c, teacher)
        now = datetime.now(UTC)
        written = expect(c.post(f"{L}/exams", headers=teacher, json={
            "title": "Thi kết thúc mô-đun: Lắp đặt điện chiếu sáng", "occupation_code": "6520227", "module_code": MODULE,
            "bank_ids": [bank["bank"]["id"]], "blueprint": [{"tag": "ly-thuyet", "count": 7}, {"tag": "tu-luan", "count": 1}],
            "opens_at": (now - timedelta(minutes=1)).isoformat(), "closes_at": (now + timedelta(hours=2)).isoformat(),
            "duration_minutes": 45, "max_attempts": 1, "pass_mark": 50}), 201).json()
        written = expect(c.post(f"{L}/exams/{written['id']}/publish", headers=teacher)).json()
        roster = {x["full_name"]: x for x in expect(c.post(f"{L}/exams/{written['id']}/roster", headers=teacher,
                                                           json={"learners": learners})).json()["items"]}
        expect(c.put(f"{L}/exams/{written['id']}/roster/{roster['Lê Thị Hồng Nhung']['id']}/accommodation", headers=teacher,
                     json={"extra_minutes": 15, "note": "Giấy xác nhận khuyết tật vận động (thêm thời gian)"}))
        step(f"teacher.demo: written exam “{written['title']}”, {written['form_length']} items per form drawn from the blueprint, "
             "45 minutes, Nhung +15 minutes")

        attempts = {}
        for name, headers in students.items():
            attempt = expect(c.post(f"{L}/exams/{written['id']}/attempts", headers=headers), 201).json()
            check("guidance" not in str(attempt) and "correct" not in str(attempt), "the form carries no key")
            answers = {i["id"]: answer(i, bank["keys"][i["id"]], knows=name == "Trần Văn Minh") for i in attempt["items"] if i["kind"] != "essay"}
            answers |= {i["id"]: ESSAYS[name] for i in attempt["items"] if i["kind"] == "essay"}
            done = expect(c.post(f"{L}/exam-attempts/{attempt['id']}/submit", headers=headers, json={"answers": answers})).json()
            minutes = (datetime.fromisoformat(attempt["deadline_at"]) - datetime.fromisoformat(attempt["started_at"])).total_seconds() / 60
            step(f"  {name} sits the exam: a form of their own ({len(attempt['items'])} items, {minutes:.0f} minutes), hands in: "
                 f"{done['status']}, score shown: {done['score']}")
            check(done["score"] is None, "no score is shown before the results are released")
            attempts[name] = done
        for name, done in attempts.items():
            essay = next(i for i in done["items"] if i["kind"] == "essay")
            graded = expect(c.put(f"{L}/exam-attempts/{done['id']}/responses/{essay['id']}/grade", headers=teacher,
                                  json={"points": ESSAY_POINTS[name], "comment": "Đã chấm tự luận"})).json()
            step(f"  teacher.demo scores {name}'s essay {ESSAY_POINTS[name]}/3: attempt {graded['status']}, {graded['score']} %")

        practical = expect(c.post(f"{L}/exams", headers=teacher, json={
            "kind": "practical", "title": "Thực hành: lắp mạch đèn cầu thang hai công tắc", "module_code": MODULE,
            "opens_at": (now - timedelta(minutes=1)).isoformat(), "closes_at": (now + timedelta(hours=4)).isoformat()}), 201).json()
        task = expect(c.post(f"{L}/exams/{practical['id']}/tasks", headers=teacher, json={
            "title": "Lắp mạch đèn cầu thang", "instructions": "Lắp theo sơ đồ, thử mạch, đo cách điện.", "pass_mark": 50,
            "rubric": {"criteria": [
                {"title": "An toàn điện", "critical": True, "min_points": 2,
                 "levels": [{"title": "Vi phạm", "points": 0}, {"title": "Thiếu sót", "points": 1}, {"title": "Đạt", "points": 2},
                            {"title": "Tốt", "points": 3}]},
                {"title": "Đấu nối đúng sơ đồ", "levels": [{"title": "Sai", "points": 0}, {"title": "Một phần", "points": 2},
                                                         {"title": "Đúng", "points": 4}]},
                {"title": "Gọn gàng, thẩm mỹ", "levels": [{"title": "Chưa đạt", "points": 0}, {"title": "Đạt", "points": 2},
                                                        {"title": "Tốt", "points": 3}]}]}}), 201).json()
        expect(c.post(f"{L}/exams/{practical['id']}/publish", headers=teacher))
        cands = {x["full_name"]: x for x in expect(c.post(f"{L}/exams/{practical['id']}/roster", headers=teacher,
                                                          json={"learners": learners})).json()["items"]}
        invitation = expect(c.post(f"{L}/exams/{practical['id']}/assessor-invitations", headers=teacher,
                                   json={"name": "Đỗ Văn Tâm", "organisation": "Công ty Điện lực Hà Nội (demo)"}), 201).json()
        step(f"teacher.demo: practical exam, rubric of {len(task['rubric']['criteria'])} criteria ({task['max_points']:g} points, "
             f"safety critical); invites Đỗ Văn Tâm ({invitation['organisation']}) with a one-time code")

        evidence = expect(c.put(f"{L}/practical-tasks/{task['id']}/evidence/{cands['Trần Văn Minh']['id']}", content=PHOTO, headers=minh | {
            "Content-Type": "image/jpeg"}, params={"filename": "mạch đèn cầu thang.jpg", "note": "Ảnh mạch sau khi lắp"}), 201).json()
        step(f"  Trần Văn Minh hands in a photo as evidence ({evidence['content_type']}, {evidence['size']} bytes)")

        assessor = sign_in(c, "assessor.demo", "dev-only-Assessor#2026")
        r = c.get(f"{L}/exams/{practical['id']}", headers=assessor)
        check(r.status_code == 404, "before accepting, the assessor does not see the exam")
        expect(c.post(f"{L}/assessor-invitations/accept", headers=assessor, json={"code": invitation["code"]}))
        mine = expect(c.get(f"{L}/me/assessing", headers=assessor)).json()
        check(any(x["exam_id"] == practical["id"] for x in mine), "the accepted invitation lets the assessor assess this exam")
        photos = expect(c.get(f"{L}/practical-tasks/{task['id']}/evidence/{cands['Trần Văn Minh']['id']}", headers=assessor)).json()
        link = expect(c.get(f"{L}/practical-evidence/{photos[0]['id']}/download", headers=assessor)).json()
        got = expect(c.get(link["url"]))
        check(got.content == PHOTO, "the assessor downloads the photo as it was handed in")
        judged = {"Trần Văn Minh": {"c1": "c1.l4", "c2": "c2.l3", "c3": "c3.l2"}, "Lê Thị Hồng Nhung": {"c1": "c1.l3", "c2": "c2.l3", "c3": "c3.l3"}}
        for name, levels in judged.items():
            score = expect(c.put(f"{L}/practical-tasks/{task['id']}/scores/{cands[name]['id']}", headers=assessor,
                                 json={"levels": levels, "comment": "Chấm theo bảng tiêu chí"})).json()
            step(f"  assessor.demo scores {name}: {score['points']:g}/{task['max_points']:g}")
        r = c.get(f"{L}/gradebooks", headers=assessor)
        check(r.status_code == 200 and r.json()["items"] == [], "the assessor sees nothing else of the school")

        for exam in (written, practical):
            expect(c.post(f"{L}/exams/{exam['id']}/release", headers=teacher))
        step("teacher.demo releases the results of both exams")
        for name, headers in students.items():
            w = expect(c.get(f"{L}/exams/{written['id']}/my-result", headers=headers)).json()
            p = expect(c.get(f"{L}/exams/{practical['id']}/my-result", headers=headers)).json()
            check(w["released"] and w["score_10"] is not None, f"{name} sees the written result")
            step(f"  {name} sees: written exam {w['score']} % ({w['score_10']}/10), practical {p['score']} % ({p['score_10']}/10, "
                 f"passed {p['passed']})")

        components = [{"key": "ongoing", "label": "Đánh giá thường xuyên", "weight": WEIGHTS["ongoing"]},
                      {"key": "midterm", "label": "Kiểm tra giữa kỳ", "weight": WEIGHTS["midterm"]},
                      {"key": "final", "label": "Thi kết thúc mô-đun", "weight": WEIGHTS["final"], "source": "exam", "exam_id": written["id"]},
                      {"key": "practical", "label": "Thực hành", "weight": WEIGHTS["practical"], "source": "exam", "exam_id": practical["id"]}]
        book = expect(c.post(f"{L}/gradebooks", headers=teacher, json={
            "title": "Lớp Điện công nghiệp K1 — Lắp đặt điện chiếu sáng", "programme_code": PROGRAMME, "module_code": MODULE,
            "term_code": TERM, "components": components, "roster_from_exam": written["id"]}), 201).json()
        ids = {x["full_name"]: x["learner_id"] for x in book["rows"]}
        book = expect(c.put(f"{L}/gradebooks/{book['id']}/scores", headers=teacher, json={"entries": [
            {"learner_id": ids[name], "component": k, "score": v} for name, scores in ENTERED.items() for k, v in scores.items()]})).json()
        module_scores = {}
        for row in book["rows"]:
            module_scores[row["full_name"]] = row["module_score"]
            step(f"  gradebook: {row['full_name']} {row['components']} → module score {row['module_score']} ({row['letter']}) "
                 f"by records' policy {book['grading_policy_code']}")
        sent = expect(c.post(f"{L}/gradebooks/{book['id']}/send", headers=teacher)).json()
        step(f"teacher.demo sends the gradebook to records: created {sent['created']}, updated {sent['updated']}, "
             f"unchanged {sent['unchanged']}, failed {sent['failed']}")
        check(sent["failed"] == 0 and sent["incomplete"] == 0, "every learner's grade reaches records")
        again = expect(c.post(f"{L}/gradebooks/{book['id']}/send", headers=teacher)).json()
        check((again["created"], again["updated"], again["unchanged"]) == (0, 0, 2), "a re-send changes nothing")
        step("  sent again: nothing changes (unchanged 2)")

        for name, headers in students.items():
            records = expect(c.get("/api/records/v1/me/records", headers=headers)).json()
            enrolment = next(e for x in records for e in x["enrolments"] if e["programme_code"] == PROGRAMME)
            transcript = expect(c.get(path_of(enrolment["transcript_url"]), headers=headers)).json()
            result = next(m for m in transcript["results"] if m["module_code"] == MODULE)
            step(f"  {name}'s transcript: {MODULE} {result['score']} {result['letter']} ({result['points']} on 4)")
            check(result["score"] == module_scores[name], f"{name}'s transcript shows the gradebook's module score")
    print("assessment demo: OK")


if __name__ == "__main__":
    main()
