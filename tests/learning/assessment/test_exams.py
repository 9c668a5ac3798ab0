"""Exams through the API: per-learner forms drawn from the blueprint and stored, the re-sit policy (attempts, which
score counts), essays and file answers scored by a teacher, results hidden until released, and who may do what."""

from __future__ import annotations

import struct
import zlib

import httpx

from services.learning.assessment.exams import forms
from tests.learning.assessment.conftest import Assessment
from tests.learning.assessment.helpers import account, answer_for, bank, exam, item, roster, single, window
from tests.learning.conftest import People
from tests.learning.helpers import pdf
from tests.support import Platform, gateway_to_service


def png(size: int = 2048) -> bytes:
    raw = b"\x00" + b"\xff\x00\x00" * 4
    chunks = [(b"IHDR", struct.pack(">IIBBBBB", 4, 1, 8, 2, 0, 0, 0)), (b"IDAT", zlib.compress(raw)), (b"tEXt", b"x" * size), (b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d)) for t, d in chunks)


def test_a_form_is_the_same_for_the_same_learner_and_attempt_and_differs_otherwise() -> None:
    class It:
        def __init__(self, i: int) -> None:
            self.id, self.options, self.kind = f"00000000-0000-4000-8000-{i:012d}", {"choices": [{"id": f"o{i}{k}"} for k in range(4)]}, "single"

    items = {It(i).id: It(i) for i in range(12)}
    pool, short = forms.freeze_pool([{"tag": None, "band": "any", "count": 5}],
                                    [type("I", (), {"id": k, "tags": [], "declared_difficulty": "medium"})() for k in items], lambda _: "medium")
    assert not short
    seed = forms.form_seed("bí-mật-của-kỳ-thi", "person:p1", 1)
    first = forms.draw(pool, [{"count": 5}], items, seed, True)
    assert forms.draw(pool, [{"count": 5}], items, seed, True) == first
    assert forms.draw(pool, [{"count": 5}], items, forms.form_seed("bí-mật-của-kỳ-thi", "person:p2", 1), True) != first
    assert forms.draw(pool, [{"count": 5}], items, forms.form_seed("bí-mật-của-kỳ-thi", "person:p1", 2), True) != first
    assert forms.draw(pool, [{"count": 5}], items, forms.form_seed("bí-mật-khác", "person:p1", 1), True) != first


async def test_resits_essays_file_answers_and_release(platform: Platform, assessment: Assessment, api: httpx.AsyncClient,
                                                      people: People) -> None:
    teacher, clock = people.teacher, assessment.clock
    b = await bank(api, teacher)
    for n in range(10):
        await item(api, teacher, b["id"], single(f"Câu hỏi an toàn số {n}", f"Đúng {n}", tags=["an-toan"]))
    essay = await item(api, teacher, b["id"], {"kind": "essay", "prompt": "Trình bày quy trình đo điện trở cách điện.", "points": 2,
                                               "tags": ["tu-luan"], "guidance": "Nêu megomet, cấp điện áp thử, ngưỡng 0,5 MΩ"})
    photo = await item(api, teacher, b["id"], {"kind": "file_upload", "prompt": "Chụp ảnh mạch đã đấu.", "tags": ["anh"],
                                               "accept": ["image"]})
    keys = {}
    r = await api.get(f"/v1/item-banks/{b['id']}/items", params={"limit": 50}, headers=teacher)
    keys = {i["id"]: i["key"] for i in r.json()["items"]}
    e = await exam(api, teacher, {"bank_ids": [b["id"]], "duration_minutes": 45, "max_attempts": 2, "score_policy": "highest",
                                  "blueprint": [{"tag": "an-toan", "count": 5}, {"tag": "tu-luan", "count": 1}, {"tag": "anh", "count": 1}],
                                  **window(clock, hours=6)})
    (an, an_sub), (binh, binh_sub) = await account(platform, "CD0101", "student", "Lê Văn An"), await account(platform, "CD0101", "student", "Bình")
    await roster(api, teacher, e["id"], [{"account": an_sub, "full_name": "Lê Văn An"}, {"account": binh_sub, "full_name": "Trần Thị Bình"}])

    r = await api.post(f"/v1/exams/{e['id']}/attempts", headers=an)
    assert r.status_code == 201, r.text
    first = r.json()
    r = await api.post(f"/v1/exams/{e['id']}/attempts", headers=binh)
    other = r.json()
    assert [i["id"] for i in first["items"]] != [i["id"] for i in other["items"]]  # two learners, two forms
    r = await api.get(f"/v1/exam-attempts/{first['id']}", headers=an)
    assert r.json()["items"] == first["items"]  # stored: the same form every time it is read
    assert "guidance" not in r.text and "Nêu megomet" not in r.text

    # a file answer: the bytes say what it is (a PDF declared as PNG, or an executable, is refused); size-limited
    shown = {i["kind"]: i for i in first["items"]}
    url = f"/v1/exam-attempts/{first['id']}/responses/{photo['id']}/file"
    r = await api.put(url, content=pdf(4096), params={"filename": "mạch.png"}, headers=an | {"Content-Type": "image/png"})
    assert r.status_code == 415 and r.json()["detected_type"] == "application/pdf", r.text
    r = await api.put(url, content=pdf(4096), params={"filename": "mạch.pdf"}, headers=an | {"Content-Type": "application/pdf"})
    assert r.status_code == 415 and r.json()["accepted"] == ["image"], r.text  # this item takes images only
    r = await api.put(url, content=b"MZ\x90\x00" + b"\x00" * 4000, headers=an)
    assert r.status_code == 415, r.text
    r = await api.put(url, content=png(80 * 1024), headers=an | {"Content-Type": "image/png"})
    assert r.status_code == 413, r.text
    image = png()
    r = await api.put(url, content=image, params={"filename": "mạch điện.png"}, headers=an | {"Content-Type": "image/png"})
    assert r.status_code == 200 and r.json()["filename"] == "mạch điện.png" and r.json()["answer"]["content_type"] == "image/png", r.text
    r = await api.get(url, headers=teacher)
    assert r.status_code == 200 and r.json()["size"] == len(image), r.text
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=assessment.app), base_url="http://127.0.0.1:8002") as raw:
        got = await raw.get(gateway_to_service(r.json()["url"]))
    assert got.status_code == 200 and got.content == image
    r = await api.get(url, headers=binh)
    assert r.status_code == 404, r.text

    # An answers the choices right and the essay; hands in; the essay waits for a teacher
    answers = {i["id"]: answer_for(i, keys[i["id"]]) for i in first["items"] if i["kind"] == "single"}
    answers[essay["id"]] = "Dùng megomet 500 V, đo giữa pha và vỏ, đạt khi lớn hơn 0,5 MΩ."
    r = await api.post(f"/v1/exam-attempts/{first['id']}/submit", json={"answers": answers}, headers=an)
    assert r.status_code == 200 and r.json()["status"] == "submitted", r.text
    assert shown["essay"]["id"] == essay["id"]
    r = await api.put(f"/v1/exam-attempts/{first['id']}/responses/{essay['id']}", json={"answer": "sửa lại"}, headers=an)
    assert r.status_code == 409 and r.json()["type"].endswith("/exam-attempt-closed"), r.text  # handed in: closed
    # Bình hands in blank, then sits again (two attempts allowed), again blank: the third is refused
    r = await api.post(f"/v1/exam-attempts/{other['id']}/submit", headers=binh)
    assert r.status_code == 200, r.text
    r = await api.post(f"/v1/exams/{e['id']}/attempts", headers=binh)
    assert r.status_code == 201 and r.json()["number"] == 2, r.text
    second = r.json()
    assert second["items"] != other["items"]  # a re-sit gets a form of its own
    r = await api.post(f"/v1/exam-attempts/{second['id']}/submit", headers=binh)
    r = await api.post(f"/v1/exams/{e['id']}/attempts", headers=binh)
    assert r.status_code == 409 and r.json()["max_attempts"] == 2, r.text

    # releasing waits for the teacher's scores; a learner may not score, nor may a teacher of another school see it
    r = await api.post(f"/v1/exams/{e['id']}/release", headers=teacher)
    assert r.status_code == 409 and r.json()["to_score"] == 1, r.text
    grade = f"/v1/exam-attempts/{first['id']}/responses/{essay['id']}/grade"
    r = await api.put(grade, json={"points": 2}, headers=an)
    assert r.status_code == 403, r.text
    r = await api.put(grade, json={"points": 2}, headers=people.other_teacher)
    assert r.status_code == 404, r.text
    r = await api.put(grade, json={"points": 3}, headers=teacher)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "points", r.text
    r = await api.put(grade, json={"points": 1.5, "comment": "Thiếu bước nối đất trước khi đo."}, headers=teacher)
    assert r.status_code == 200 and r.json()["pending"] == 1, r.text  # the photo still to score
    r = await api.put(f"/v1/exam-attempts/{first['id']}/responses/{photo['id']}/grade", json={"points": 1}, headers=teacher)
    assert r.status_code == 200 and r.json()["status"] == "graded", r.text
    assert r.json()["points"] == 7.5 and r.json()["score"] == 93.75  # 5 + 1.5 + 1 of 8

    # before release: the learner sees no score; Bình's zero attempts need no teacher (nothing to mark)
    r = await api.get(f"/v1/exams/{e['id']}/my-result", headers=an)
    assert r.json()["released"] is False and r.json()["score"] is None and r.json()["attempts"][0]["score"] is None
    r = await api.get(f"/v1/exams/{e['id']}/results", headers=teacher)
    results = {row["candidate"]["full_name"]: row for row in r.json()["items"]}
    assert results["Lê Văn An"]["score"] == 93.75 and results["Lê Văn An"]["score_10"] == "9.4"
    assert results["Trần Thị Bình"]["score"] == 0.0 and len(results["Trần Thị Bình"]["attempts"]) == 2
    r = await api.post(f"/v1/exams/{e['id']}/release", headers=teacher)
    assert r.status_code == 200 and r.json()["results_released_at"], r.text
    r = await api.get(f"/v1/exam-attempts/{first['id']}", headers=an)
    seen = r.json()
    assert seen["scores_visible"] and seen["score"] == 93.75
    assert {x["item_id"]: x["comment"] for x in seen["responses"]}[essay["id"]] == "Thiếu bước nối đất trước khi đo."
    r = await api.get(f"/v1/exam-attempts/{first['id']}/answer-log", headers=teacher)
    assert r.status_code == 200 and len(r.json()) == 7, r.text  # the file, five choices, the essay: each with its time
    r = await api.get(f"/v1/exam-attempts/{first['id']}/answer-log", headers=an)
    assert r.status_code == 403, r.text
