"""Exams are timed on the server, by its clock (a fake one here, moved by hand): the window, the duration, a
learner's extra time; answers after the deadline are refused with problem+json and the attempt is scored on what
was saved before it."""

from __future__ import annotations

import httpx

from tests.learning.assessment.conftest import Assessment
from tests.learning.assessment.helpers import account, answer_for, bank, exam, item, roster, single, window
from tests.learning.conftest import People
from tests.support import Platform


async def test_window_duration_and_accommodation_are_enforced_on_the_server(
        platform: Platform, assessment: Assessment, api: httpx.AsyncClient, people: People) -> None:
    clock, teacher = assessment.clock, people.teacher
    b = await bank(api, teacher)
    items = [await item(api, teacher, b["id"], single(f"Câu {i}: điện áp định mức của lưới hạ thế?", "220 V", tags=["dien-ap"]))
             for i in range(3)]
    keys = {i["id"]: i["key"] for i in items}
    e = await exam(api, teacher, {"bank_ids": [b["id"]], "blueprint": [{"tag": "dien-ap", "count": 2}], "duration_minutes": 30,
                                  **window(clock, opens_in=600, hours=2)})
    (an, an_sub), (binh, binh_sub) = await account(platform, "CD0101", "student", "Lê Văn An"), await account(platform, "CD0101", "student", "Trần Thị Bình")
    await roster(api, teacher, e["id"], [{"account": an_sub, "full_name": "Lê Văn An"},
                                         {"account": binh_sub, "full_name": "Trần Thị Bình", "extra_minutes": 15}])

    # before the window opens: refused, saying when it opens
    r = await api.post(f"/v1/exams/{e['id']}/attempts", headers=an)
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json", r.text
    assert r.json()["type"].endswith("/exam-window-closed") and "opens_at" in r.json()

    await clock.advance(600, step=600)
    r = await api.post(f"/v1/exams/{e['id']}/attempts", headers=an)
    assert r.status_code == 201, r.text
    mine = r.json()
    assert len(mine["items"]) == 2 and "key" not in r.text and "correct" not in r.text
    r = await api.post(f"/v1/exams/{e['id']}/attempts", headers=an)  # the running attempt again, the same form
    assert r.status_code == 200 and r.json()["items"] == mine["items"]
    r = await api.post(f"/v1/exams/{e['id']}/attempts", headers=binh)
    assert r.status_code == 201, r.text
    hers = r.json()

    first, second = mine["items"]
    r = await api.put(f"/v1/exam-attempts/{mine['id']}/responses/{first['id']}", json={"answer": answer_for(first, keys[first["id"]])}, headers=an)
    assert r.status_code == 200, r.text

    # 29 minutes in: still open; 31 minutes in: An's 30 minutes are over, Bình has 15 more
    await clock.advance(29 * 60, step=29 * 60)
    r = await api.put(f"/v1/exam-attempts/{hers['id']}/responses/{hers['items'][0]['id']}",
                      json={"answer": answer_for(hers["items"][0], keys[hers["items"][0]["id"]])}, headers=binh)
    assert r.status_code == 200, r.text
    await clock.advance(2 * 60, step=2 * 60)
    r = await api.put(f"/v1/exam-attempts/{mine['id']}/responses/{second['id']}", json={"answer": answer_for(second, keys[second["id"]])},
                      headers=an)
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json", r.text
    assert r.json()["type"].endswith("/exam-deadline-passed") and r.json()["deadline_at"] == mine["deadline_at"]
    r = await api.post(f"/v1/exam-attempts/{mine['id']}/submit", json={}, headers=an)
    assert r.status_code == 409 and r.json()["type"].endswith("/exam-deadline-passed"), r.text
    r = await api.put(f"/v1/exam-attempts/{hers['id']}/responses/{hers['items'][1]['id']}",
                      json={"answer": answer_for(hers["items"][1], keys[hers["items"][1]["id"]])}, headers=binh)
    assert r.status_code == 200, r.text  # 31 of her 45 minutes

    # An's attempt was closed at its deadline and scored on the one answer saved before it (seen by the teacher)
    r = await api.get(f"/v1/exam-attempts/{mine['id']}", headers=teacher)
    assert r.status_code == 200, r.text
    closed = r.json()
    assert closed["status"] == "graded" and closed["ended_at"] == mine["deadline_at"]
    assert closed["points"] == 1 and closed["score"] == 50.0
    # the learner sees her attempt, without scores until they are released
    r = await api.get(f"/v1/exam-attempts/{mine['id']}", headers=an)
    assert r.status_code == 200 and r.json()["scores_visible"] is False and r.json()["score"] is None
    # nor may another learner see it
    r = await api.get(f"/v1/exam-attempts/{mine['id']}", headers=binh)
    assert r.status_code == 404, r.text

    # 46 minutes: Bình's extra time is over too
    await clock.advance(15 * 60, step=15 * 60)
    r = await api.post(f"/v1/exam-attempts/{hers['id']}/submit", json={}, headers=binh)
    assert r.status_code == 409, r.text

    # the window closes (2 hours): nobody starts any more
    await clock.advance(2 * 3600, step=3600)
    outsider, outsider_sub = await account(platform, "CD0101", "student")
    await roster(api, teacher, e["id"], [{"account": outsider_sub, "full_name": "Phạm Văn Cường"}])
    r = await api.post(f"/v1/exams/{e['id']}/attempts", headers=outsider)
    assert r.status_code == 409 and r.json()["type"].endswith("/exam-window-closed"), r.text
