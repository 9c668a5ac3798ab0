"""Classical test theory from responses: on a seeded response set (five learners, four one-mark items of four kinds,
all on one form), the p-values and point-biserial coefficients the bank reports equal the ones computed by hand
from the textbook formula; a retired item keeps its history and is never drawn again."""

from __future__ import annotations

import math

import httpx
import pytest

from tests.learning.assessment.conftest import Assessment
from tests.learning.assessment.helpers import account, answer_for, bank, exam, item, roster, single, window
from tests.learning.conftest import People
from tests.support import Platform

#: who answers which item right (1) or wrong (0): rows are learners, columns the items I1..I4
MATRIX = [
    [1, 1, 1, 1],  # total 4/4 = 100 %
    [1, 1, 1, 0],  # 75 %
    [1, 1, 0, 0],  # 50 %
    [1, 0, 0, 0],  # 25 %
    [0, 0, 0, 1],  # 25 %
]


def by_hand() -> list[tuple[float, float]]:
    """(p, r_pb) of each item, by the point-biserial formula r = (M1 − M0) / s · √(p·q), s the population standard
    deviation of the totals — worked out here so the test states its arithmetic:
    totals 100, 75, 50, 25, 25: mean 55, variance (45² + 20² + 5² + 30² + 30²) / 5 = 850, s = √850.
    I1: p = 0.8, M1 = 62.5 (100, 75, 50, 25), M0 = 25   → (37.5 / √850) · √0.16 = 0.5145
    I2: p = 0.6, M1 = 75, M0 = 25                       → (50 / √850) · √0.24   = 0.8402
    I3: p = 0.4, M1 = 87.5, M0 = 33.33…                 → (54.1667 / √850) · √0.24 = 0.9102
    I4: p = 0.4, M1 = 62.5 (100, 25), M0 = 50           → (12.5 / √850) · √0.24 = 0.2100"""
    s = math.sqrt(850)
    return [(0.8, 37.5 / s * math.sqrt(0.16)), (0.6, 50 / s * math.sqrt(0.24)), (0.4, (87.5 - 100 / 3) / s * math.sqrt(0.24)),
            (0.4, 12.5 / s * math.sqrt(0.24))]


async def test_p_values_and_point_biserials_equal_the_hand_computed_ones(
        platform: Platform, assessment: Assessment, api: httpx.AsyncClient, people: People) -> None:
    teacher = people.teacher
    b = await bank(api, teacher)
    items = [
        await item(api, teacher, b["id"], single("Thiết bị nào bảo vệ chống dòng rò?", "RCD (aptomat chống giật)", tags=["an-toan"])),
        await item(api, teacher, b["id"], {"kind": "true_false", "prompt": "Dây PE có màu vàng – xanh lá.", "answer": True, "tags": ["an-toan"]}),
        await item(api, teacher, b["id"], {"kind": "ordering", "prompt": "Thứ tự cắt điện an toàn",
                                           "sequence": ["Báo trước", "Cắt aptomat", "Treo biển", "Thử điện"], "tags": ["quy-trinh"]}),
        await item(api, teacher, b["id"], {"kind": "cloze", "prompt": "Điện áp pha của lưới hạ thế là {{1}} V.",
                                           "blanks": [{"accepted": ["220", "230"]}], "tags": ["dien-ap"]}),
    ]
    keys = {i["id"]: i["key"] for i in items}
    e = await exam(api, teacher, {"bank_ids": [b["id"]], "blueprint": [{"count": 4}], "duration_minutes": 20, **window(assessment.clock)})
    learners = [await account(platform, "CD0101", "student", f"Học viên {n}") for n in range(len(MATRIX))]
    await roster(api, teacher, e["id"], [{"account": sub, "full_name": f"Học viên {n}"} for n, (_, sub) in enumerate(learners)])

    for (headers, _), row in zip(learners, MATRIX, strict=True):
        r = await api.post(f"/v1/exams/{e['id']}/attempts", headers=headers)
        assert r.status_code == 201, r.text
        attempt = r.json()
        assert {i["id"] for i in attempt["items"]} == set(keys)  # the whole bank, in an order of its own
        answers = {shown["id"]: answer_for(shown, keys[shown["id"]], right=bool(row[[i["id"] for i in items].index(shown["id"])]))
                   for shown in attempt["items"]}
        r = await api.post(f"/v1/exam-attempts/{attempt['id']}/submit", json={"answers": answers}, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "graded" and r.json()["scores_visible"] is False  # scored, not shown yet

    # statistics are computed when the results are released
    r = await api.get(f"/v1/item-banks/{b['id']}/statistics", headers=teacher)
    assert [row["statistics"]["responses"] for row in r.json()] == [0, 0, 0, 0]
    r = await api.post(f"/v1/exams/{e['id']}/release", headers=teacher)
    assert r.status_code == 200, r.text
    r = await api.get(f"/v1/item-banks/{b['id']}/statistics", headers=teacher)
    assert r.status_code == 200, r.text
    rows = {row["item_id"]: row["statistics"] for row in r.json()}
    for it, (p, rpb) in zip(items, by_hand(), strict=True):
        got = rows[it["id"]]
        assert got["responses"] == 5
        assert got["p_value"] == pytest.approx(p, abs=1e-4), it["kind"]
        assert got["point_biserial"] == pytest.approx(rpb, abs=1e-4), it["kind"]
        assert got["band"] == "medium"  # 5 responses: too few to replace the author's estimate (20 needed)

    # the learners now see their scores
    r = await api.get(f"/v1/exams/{e['id']}/my-result", headers=learners[1][0])
    assert r.status_code == 200 and r.json()["released"] and r.json()["score"] == 75.0 and r.json()["score_10"] == "7.5", r.text

    # I4 is retired: kept with its statistics, never drawn again (a blueprint asking for 4 items now fails, naming the row)
    r = await api.post(f"/v1/items/{items[3]['id']}/retire", json={"reason": "đáp án gây tranh cãi"}, headers=teacher)
    assert r.status_code == 200 and r.json()["status"] == "retired", r.text
    r = await api.get(f"/v1/item-banks/{b['id']}/statistics", headers=teacher)
    kept = {row["item_id"]: row for row in r.json()}[items[3]["id"]]
    assert kept["status"] == "retired" and kept["statistics"]["responses"] == 5
    r = await api.get(f"/v1/item-banks/{b['id']}/items", params={"status": "retired"}, headers=teacher)
    assert [i["id"] for i in r.json()["items"]] == [items[3]["id"]]
    again = await exam(api, teacher, {"bank_ids": [b["id"]], "blueprint": [{"count": 4}], "duration_minutes": 20,
                                      **window(assessment.clock)}, publish=False)
    r = await api.post(f"/v1/exams/{again['id']}/publish", headers=teacher)
    assert r.status_code == 422 and r.json()["errors"] == [{"field": "blueprint.0.count", "message": "3 active item(s) fit this row, 4 wanted"}]
