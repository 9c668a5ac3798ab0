"""Item banks: one per module (occupation + module code), national or an institution's; who keeps and who reads
them; items of every kind with their keys (for the keepers), checked when written, naming the field; tags."""

from __future__ import annotations

import httpx

from tests.learning.assessment.conftest import Assessment
from tests.learning.assessment.helpers import OCCUPATION, bank, item, module_code, single, window
from tests.learning.conftest import People
from tests.learning.helpers import login
from tests.support import Platform

MINISTRY = ("ministry.demo", "dev-only-Ministry#2026")


async def test_who_keeps_and_reads_banks(platform: Platform, assessment: Assessment, api: httpx.AsyncClient, people: People) -> None:
    teacher, elsewhere, ministry = people.teacher, people.other_teacher, await login(platform, *MINISTRY)
    module = module_code()
    own = await bank(api, teacher, module_code=module)
    assert (own["scope"], own["institution_code"]) == ("CD0101", "CD0101")
    r = await api.post("/v1/item-banks", json={"occupation_code": OCCUPATION, "module_code": module, "title": "Lần hai"}, headers=teacher)
    assert r.status_code == 409, r.text
    r = await api.post("/v1/item-banks", json={"occupation_code": OCCUPATION, "module_code": module, "title": "Quốc gia",
                                               "national": True}, headers=teacher)
    assert r.status_code == 403, r.text
    r = await api.post("/v1/item-banks", json={"occupation_code": "65202", "module_code": module, "title": "x"}, headers=teacher)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "occupation_code", r.text
    national = await bank(api, ministry, module_code=module, national=True, title="Ngân hàng quốc gia: Kỹ thuật điện")
    assert (national["scope"], national["institution_code"]) == ("national", None)

    # the national bank: kept by national authors, read by teachers everywhere; an institution's: by its teachers only
    r = await api.post(f"/v1/item-banks/{national['id']}/items", json=single("Câu quốc gia", "Đúng"), headers=teacher)
    assert r.status_code == 403, r.text
    await item(api, ministry, national["id"], single("Dòng điện xoay chiều ở Việt Nam có tần số?", "50 Hz", tags=["co-ban"]))
    r = await api.get(f"/v1/item-banks/{national['id']}/items", headers=elsewhere)
    assert r.status_code == 200 and len(r.json()["items"]) == 1, r.text
    r = await api.get(f"/v1/item-banks/{own['id']}", headers=elsewhere)
    assert r.status_code == 404, r.text
    r = await api.get("/v1/item-banks", params={"module": module}, headers=elsewhere)
    assert [b["id"] for b in r.json()["items"]] == [national["id"]]
    r = await api.get("/v1/item-banks", params={"module": module}, headers=teacher)
    assert {b["id"] for b in r.json()["items"]} == {own["id"], national["id"]}
    r = await api.get("/v1/item-banks", params={"module": module}, headers=people.student)
    assert r.status_code == 200 and r.json()["items"] == [], r.text
    r = await api.get(f"/v1/item-banks/{national['id']}", headers=people.student)
    assert r.status_code == 404, r.text

    # an exam draws from national banks and its own institution's, never another school's
    r = await api.post("/v1/exams", headers=elsewhere, json={"title": "Kiểm tra", "bank_ids": [own["id"], national["id"]],
                                                             "blueprint": [{"count": 1}], "duration_minutes": 10, **window(assessment.clock)})
    assert r.status_code == 422 and r.json()["errors"] == [{"field": "bank_ids.0", "message": "no such item bank"}], r.text
    r = await api.post("/v1/exams", headers=elsewhere, json={"title": "Kiểm tra", "bank_ids": [national["id"]],
                                                             "blueprint": [{"count": 1}], "duration_minutes": 10, **window(assessment.clock)})
    assert r.status_code == 201 and r.json()["institution_code"] == "TC7901", r.text


async def test_items_of_every_kind_are_checked_and_keep_their_keys_for_the_keepers(assessment: Assessment, api: httpx.AsyncClient,
                                                                                   people: People) -> None:
    teacher = people.teacher
    b = await bank(api, teacher)
    url = f"/v1/item-banks/{b['id']}/items"
    refused = [
        ({"kind": "single", "prompt": "Hai đáp án đúng?", "choices": [{"text": "A", "correct": True}, {"text": "B", "correct": True}]}, "choices"),
        ({"kind": "single", "prompt": "Có bước?", "choices": [{"text": "A", "correct": True}, {"text": "B"}], "sequence": ["x", "y"]}, "sequence"),
        ({"kind": "ordering", "prompt": "Sắp xếp", "sequence": ["Chỉ một bước"]}, "sequence"),
        ({"kind": "cloze", "prompt": "Thiếu chỗ trống {{2}}", "blanks": [{"accepted": ["a"]}]}, "prompt"),
        ({"kind": "cloze", "prompt": "Không có chỗ trống", "blanks": [{"accepted": ["a"]}, {"accepted": ["b"]}]}, "prompt"),
        ({"kind": "numeric", "prompt": "Bao nhiêu?"}, "answer"),
        ({"kind": "essay", "prompt": "Viết", "blanks": [{"accepted": ["a"]}]}, "blanks"),
        ({"kind": "file_upload", "prompt": "Nộp tệp", "accept": ["executable"]}, "accept.0"),
        ({"kind": "true_false", "prompt": "Đúng?", "answer": True, "tags": ["x" * 51]}, "tags.0"),
    ]
    for body, field in refused:
        r = await api.post(url, json=body, headers=teacher)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, (body, r.text)

    made = {
        "multiple": await item(api, teacher, b["id"], {"kind": "multiple", "prompt": "Thiết bị bảo vệ?", "tags": ["bao-ve"],
                                                                 "choices": [{"text": "Aptomat", "correct": True}, {"text": "Cầu chì", "correct": True},
                                                                             {"text": "Công tắc"}]}),
        "matching": await item(api, teacher, b["id"], {"kind": "matching", "prompt": "Ghép ký hiệu", "tags": ["ky-hieu"],
                                                       "pairs": [{"left": "L", "right": "Dây pha"}, {"left": "N", "right": "Dây trung tính"}]}),
        "numeric": await item(api, teacher, b["id"], {"kind": "numeric", "prompt": "Công suất (W) của 220 V × 0,5 A?", "answer": 110,
                                                      "tolerance": 0.5, "tags": ["tinh-toan"]}),
        "ordering": await item(api, teacher, b["id"], {"kind": "ordering", "prompt": "Thứ tự", "sequence": ["Một", "Hai", "Ba"], "tags": ["quy-trinh"]}),
        "cloze": await item(api, teacher, b["id"], {"kind": "cloze", "prompt": "Dây {{1}} màu vàng – xanh, dây {{2}} màu xanh dương.",
                                                    "blanks": [{"accepted": ["PE", "bảo vệ"]}, {"accepted": ["N", "trung tính"]}], "tags": ["ky-hieu"]}),
        "essay": await item(api, teacher, b["id"], {"kind": "essay", "prompt": "Phân tích sự cố", "max_words": 300, "points": 5,
                                                    "guidance": "Nêu nguyên nhân, biện pháp", "tags": ["tu-luan"], "difficulty": "hard"}),
    }
    assert made["multiple"]["key"]["ids"] and len(made["multiple"]["choices"]) == 3
    steps = {s["id"]: s["text"] for s in made["ordering"]["sequence"]}
    assert [steps[i] for i in made["ordering"]["key"]["order"]] == ["Một", "Hai", "Ba"]  # the key keeps the order, ids say nothing
    assert made["cloze"]["blanks"] == 2 and made["cloze"]["key"]["blanks"][1]["accepted"] == ["n", "trung tính"]
    assert made["essay"]["key"] == {"guidance": "Nêu nguyên nhân, biện pháp"} and made["essay"]["difficulty"] == "hard"

    # by tag and kind, a page at a time; tags change, content does not (retire and write a new item instead)
    r = await api.get(url, params={"tag": "ky-hieu"}, headers=teacher)
    assert {i["kind"] for i in r.json()["items"]} == {"matching", "cloze"}
    r = await api.get(url, params={"limit": 4}, headers=teacher)
    assert len(r.json()["items"]) == 4 and r.json()["next_cursor"], r.text
    r2 = await api.get(url, params={"limit": 4, "cursor": r.json()["next_cursor"]}, headers=teacher)
    assert len(r2.json()["items"]) == 2 and not r2.json()["next_cursor"]
    r = await api.patch(f"/v1/items/{made['numeric']['id']}", json={"tags": ["Tinh-Toan", "cong-suat"], "difficulty": "easy"}, headers=teacher)
    assert r.status_code == 200 and r.json()["tags"] == ["cong-suat", "tinh-toan"] and r.json()["difficulty"] == "easy", r.text
    r = await api.patch(f"/v1/items/{made['numeric']['id']}", json={"prompt": "khác"}, headers=teacher)
    assert r.status_code == 422, r.text
    r = await api.get(url, params={"tag": "cong-suat"}, headers=teacher)
    assert [i["id"] for i in r.json()["items"]] == [made["numeric"]["id"]]
    r = await api.get(f"/v1/items/{made['numeric']['id']}", headers=people.other_teacher)
    assert r.status_code == 404, r.text
