"""The ``learner.graduated`` event as it leaves records over the wire: it names the holder by the 12-digit personal ID
number, so credentials can hash that number into the diploma (README: personal ID numbers)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from services.common.outbox import OutboxDeliverer
from tests.records.helpers import code, errors_of, grade, id_number, learner, run_json, world
from tests.support import Platform


class Recording(httpx.AsyncBaseTransport):
    """Passes every request on to the platform and keeps a copy of what was sent."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((str(request.url), json.loads(await request.aread())))
        return await self.inner.handle_async_request(request)


async def test_graduated_event_carries_the_holder_id_number(platform: Platform) -> None:
    school = await platform.school_headers()
    p, t, k, number = code("CNTT"), code("HK"), code("K"), id_number(century_gender=3)
    async with platform.client("records") as c:
        batch = world(p, t, k, [learner(number, "Lê Thị Thu Hà", p, k, date_of_birth="2004-03-02", sex="female", birth_place="Huế")], [
            grade(number, p, "M1", t, "8", "9"), grade(number, p, "M2", t, "7", "8"), grade(number, p, "GDQP", t, "6", "6"),
        ])
        job = await run_json(c, school, batch)
        assert job["status"] == "succeeded", (job, await errors_of(c, job, school))
        cohort = next(x for x in (await c.get("/v1/institutions/CD0101/cohorts", headers=school)).json() if x["code"] == k)
        grad = await c.post(f"/v1/cohorts/{cohort['id']}/graduation", json={"decision_number": "9/QĐ-CĐ", "decision_date": "2026-06-30"},
                            headers=school)
        assert grad.status_code == 200 and grad.json()["graduated"] == 1, grad.text
        learner_id = grad.json()["lines"][0]["learner_id"]

    state = platform.apps["records"].state
    wire = Recording(platform.transport)
    async with httpx.AsyncClient(transport=wire) as http:
        await OutboxDeliverer(state.db, http, state.tokens, base_delay=0.0).run_once()
    mine = [(url, ev) for url, ev in wire.sent if ev["type"] == "vn.vet.records.learner.graduated" and ev["subject"] == f"learner/{learner_id}"]
    assert len(mine) == 1, [ev["subject"] for _, ev in wire.sent]
    url, event = mine[0]
    assert url.endswith("/v1/events") and "127.0.0.1:8004" in url  # to credentials only
    holder = event["data"]["holder"]
    assert holder == {"full_name": "Lê Thị Thu Hà", "id_number": number, "birth_date": "2004-03-02", "gender": "female", "birth_place": "Huế"}
