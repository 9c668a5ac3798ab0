"""National oversight on a seeded data set in a province no other test uses (092, Cần Thơ), every number counted
by hand below: who is connected and why, rows and rejected rows, freshness, shares per type against the targets,
the indicators; officers see only their province; targets and entered values are audited.

    school  type          machine client           sync                          connected?
    X       college       active (may sync)        2 learners + 2 grades, now    yes
    Y       college       active                   never                         no: never_synced
    Z       intermediate  disabled after its sync  1 learner + 1 bad grade row   no: no_active_client
    W       intermediate  none                     never                         no: no_active_client
    V       vet_centre    none                     never                         no: no_active_client

Shares in 092: college 1/2, intermediate 0/2, VET centre 0/1; Decision 2222's connection share (colleges and
intermediate schools) 1/4 = 0.25. X's teachers: 10 reported, none trained → 0.0."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from services.common.clock import Clock
from services.common.db import utcnow
from tests.records.helpers import grade, id_number, learner, login, programme, run_json, world
from tests.support import Platform

PROVINCE = "092"
YEAR = utcnow().year


class Later(Clock):
    """Real time moved ahead (the board's "now"), sleeping in real time."""

    def __init__(self, days: int) -> None:
        self.delta = timedelta(days=days)

    def now(self):  # type: ignore[no-untyped-def]
        return super().now() + self.delta


def code(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8].upper()}"


@pytest.fixture(scope="module")
async def seeded(platform: Platform) -> dict[str, Any]:
    ministry = await login(platform, "ministry.demo", "dev-only-Ministry#2026")
    admin = await platform.admin_headers()
    schools = {"X": (code("CD"), "college"), "Y": (code("CD"), "college"), "Z": (code("TC"), "intermediate"),
               "W": (code("TC"), "intermediate"), "V": (code("TT"), "vet_centre")}
    tokens: dict[str, dict[str, str]] = {}
    async with platform.client("identity") as c:
        for key, (school, kind) in schools.items():
            r = await c.post("/v1/institutions", headers=ministry, json={
                "code": school, "name": f"Trường thử {key} Cần Thơ", "type": kind, "province_code": PROVINCE,
                "latitude": 10.03, "longitude": 105.78})
            assert r.status_code == 201, r.text
        for key in ("X", "Y", "Z"):
            school = schools[key][0]
            r = await c.post("/v1/clients", headers=admin, json={
                "client_id": f"sis-{school.lower()}", "name": f"SIS {school}", "scopes": ["records:sync", "records:read"],
                "institution_code": school, "roles": ["school_system"]})
            assert r.status_code == 201, r.text
            tokens[key] = {"Authorization": f"Bearer {await platform.token(r.json()['client_id'], r.json()['client_secret'])}"}
        r = await c.put(f"/v1/institutions/{schools['X'][0]}/staff-counts/{YEAR}", json={"teachers": 10, "managers": 2}, headers=ministry)
        assert r.status_code == 200, r.text
    enrolled = f"{YEAR}-01-05" if utcnow().month > 1 or utcnow().day > 5 else f"{YEAR}-01-01"
    x = [id_number(century_gender=2), id_number(century_gender=3)]
    z = id_number(century_gender=2)
    batch_x = world("P1", "T1", "K1", [learner(x[0], "Nguyễn Văn An", "P1", "K1", sex="male", enrolled_on=enrolled),
                                      learner(x[1], "Trần Thị Bình", "P1", "K1", sex="female", enrolled_on=enrolled)],
                    [grade(x[0], "P1", "M1", "T1", "8", "8"), grade(x[1], "P1", "M1", "T1", "7", "7")])
    batch_z = world("P2", "T1", "K2", [learner(z, "Lê Văn Cường", "P2", "K2", sex="male", enrolled_on=enrolled)],
                    [grade(z, "P2", "M1", "T1", "6", "6"), grade(z, "P2", "NOPE", "T1", "6", "6")])
    batch_z["programmes"] = [programme("P2", level="intermediate", occupation="5810201")]
    async with platform.client("records") as c:
        job_x = await run_json(c, tokens["X"], batch_x, institution=schools["X"][0])
        job_z = await run_json(c, tokens["Z"], batch_z, mode="accept_valid", institution=schools["Z"][0])
    assert job_x["status"] == "succeeded", job_x
    assert job_z["status"] == "completed_with_errors" and job_z["rejected"] == 1, job_z
    async with platform.client("identity") as c:
        r = await c.patch(f"/v1/clients/sis-{schools['Z'][0].lower()}", json={"active": False}, headers=admin)
        assert r.status_code == 200, r.text
    async with platform.client("records") as c:
        for year, value in ((2025, 0.5), (2030, 1.0)):
            r = await c.post("/v1/oversight/targets", headers=ministry, json={
                "source_decision": "2222/QĐ-TTg", "indicator": "connected_share", "year": year, "value": value})
            assert r.status_code in (200, 201), r.text
        r = await c.post("/v1/oversight/refresh", headers=ministry)
        assert r.status_code == 200, r.text
        assert not r.json()["identity"].startswith("failed") and not r.json()["learning"].startswith("failed"), r.json()
    return {"schools": {k: v[0] for k, v in schools.items()}, "ministry": ministry, "jobs": {"X": job_x, "Z": job_z},
            "enrolled": enrolled}


async def board(platform: Platform, headers: dict[str, str], **params: Any) -> httpx.Response:
    async with platform.client("records") as c:
        return await c.get("/v1/oversight/connections", params=params, headers=headers)


async def test_connection_board_numbers(platform: Platform, seeded: dict[str, Any]) -> None:
    s = seeded["schools"]
    r = await board(platform, seeded["ministry"], province=PROVINCE)
    assert r.status_code == 200, r.text
    doc = r.json()
    rows = {row["code"]: row for row in doc["items"]}
    assert set(rows) == set(s.values())
    assert {k: (rows[v]["connected"], rows[v]["reason"]) for k, v in s.items()} == {
        "X": (True, None), "Y": (False, "never_synced"), "Z": (False, "no_active_client"),
        "W": (False, "no_active_client"), "V": (False, "no_active_client")}
    assert rows[s["X"]]["machine_clients_active"] == 1 and rows[s["Z"]]["machine_clients_active"] == 0
    shares = {(x["province_code"], x["type"]): x for x in doc["shares"]}
    assert {k: (v["institutions"], v["connected"], v["share"]) for k, v in shares.items()} == {
        (PROVINCE, "college"): (2, 1, 0.5), (PROVINCE, "intermediate"): (2, 0, 0.0), (PROVINCE, "vet_centre"): (1, 0, 0.0)}
    assert shares[(PROVINCE, "college")]["targets"] == {"2025": 0.5, "2030": 1.0}
    assert shares[(PROVINCE, "vet_centre")]["targets"] == {}  # Decision 2222 counts colleges and intermediate schools
    x, z = rows[s["X"]], rows[s["Z"]]
    assert sum(w["rows"] for w in x["weeks"]) == seeded["jobs"]["X"]["rows_read"]
    assert sum(w["rejected"] for w in x["weeks"]) == 0
    assert sum(w["rows"] for w in z["weeks"]) == seeded["jobs"]["Z"]["rows_read"]
    assert sum(w["rejected"] for w in z["weeks"]) == 1
    assert x["weeks"][-1]["rows"] == seeded["jobs"]["X"]["rows_read"] and len(x["weeks"]) == 8
    assert x["last_error"] is None
    assert z["last_error"]["job_id"] == seeded["jobs"]["Z"]["id"] and "1 row(s) rejected" in z["last_error"]["message"]
    assert x["freshness"]["learners"] and x["freshness"]["grades"] and x["last_sync_at"]
    assert x["freshness"]["diplomas"] is None and rows[s["Y"]]["freshness"]["learners"] is None
    assert {src["source"]: bool(src["last_success_at"]) for src in doc["sources"]} == {"identity": True, "learning": True}

    csv = await board(platform, seeded["ministry"], province=PROVINCE, format="csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert lines[0].startswith("code,name,type,ownership,province_code,status,machine_clients_active,connected,reason")
    line_x = next(line for line in lines if line.startswith(s["X"]))
    assert ",yes,," in line_x and len(lines) == 6


async def test_connection_expires_after_the_window(platform: Platform, seeded: dict[str, Any]) -> None:
    records = platform.apps["records"]
    before = records.state.clock
    records.state.clock = Later(days=31)
    try:
        late = await board(platform, seeded["ministry"], province=PROVINCE)
        wider = await board(platform, seeded["ministry"], province=PROVINCE, window_days=60)
    finally:
        records.state.clock = before
    x = seeded["schools"]["X"]
    assert next(r for r in late.json()["items"] if r["code"] == x)["reason"] == "sync_older_than_window"
    assert next(r for r in wider.json()["items"] if r["code"] == x)["connected"] is True


async def test_officers_see_only_their_province(platform: Platform, seeded: dict[str, Any]) -> None:
    hcm = await login(platform, "officer.hcm.demo", "dev-only-Officer#2026")
    teacher = await login(platform, "teacher.demo", "dev-only-Teacher#2026")
    own = await board(platform, hcm)
    other = await board(platform, hcm, province=PROVINCE)
    async with platform.client("records") as c:
        indicators = await c.get("/v1/oversight/indicators", params={"province": PROVINCE}, headers=hcm)
    assert own.status_code == 200
    assert {r["province_code"] for r in own.json()["items"]} == {"079"} and own.json()["provinces"] == ["079"]
    assert other.status_code == 403 and indicators.status_code == 403
    assert (await board(platform, teacher)).status_code == 403
    assert (await board(platform, await platform.school_headers())).status_code == 403


async def test_indicators_of_the_province(platform: Platform, seeded: dict[str, Any]) -> None:
    ministry = seeded["ministry"]
    hcm = await login(platform, "officer.hcm.demo", "dev-only-Officer#2026")
    async with platform.client("records") as c:
        entered = await c.put(f"/v1/oversight/indicator-values/trained_labour_share/{YEAR}", params={"province": PROVINCE},
                              json={"value": 0.62, "note": "điều tra lao động"}, headers=ministry)
        computed = await c.put(f"/v1/oversight/indicator-values/connected_share/{YEAR}", params={"province": PROVINCE},
                               json={"value": 0.9}, headers=ministry)
        too_big = await c.put(f"/v1/oversight/indicator-values/trained_labour_share/{YEAR}", params={"province": PROVINCE},
                              json={"value": 62}, headers=ministry)
        not_theirs = await c.put(f"/v1/oversight/indicator-values/trained_labour_share/{YEAR}", params={"province": PROVINCE},
                                 json={"value": 0.1}, headers=hcm)
        target = await c.post("/v1/oversight/targets", headers=ministry, json={
            "source_decision": "Kế hoạch thử 092", "indicator": "trained_labour_share", "province_code": PROVINCE,
            "year": YEAR, "value": 0.7})
        r = await c.get("/v1/oversight/indicators", params={"province": PROVINCE, "year": YEAR}, headers=ministry)
    assert entered.status_code == 200, entered.text
    assert computed.status_code == 409 and too_big.status_code == 422 and not_theirs.status_code == 403
    assert target.status_code in (200, 201), target.text
    assert r.status_code == 200, r.text
    cards = {card["code"]: card for card in r.json()["cards"]}
    assert r.json()["scope"] == f"province:{PROVINCE}"
    assert (cards["connected_share"]["value"], cards["connected_share"]["numerator"], cards["connected_share"]["denominator"]) == (0.25, 1, 4)
    assert {2025: 0.5, 2030: 1.0}.items() <= {t["year"]: t["value"] for t in cards["connected_share"]["targets"]}.items()
    assert (cards["teachers_digital_trained_share"]["value"], cards["teachers_digital_trained_share"]["denominator"]) == (0.0, 10)
    assert (cards["soft_skills_coverage"]["value"], cards["soft_skills_coverage"]["denominator"]) == (0.0, 5)
    assert cards["trainees_total"]["value"] == 3  # X's two learners and Z's one enrolled this year
    assert cards["trainees_college"]["value"] == 2 and cards["trainees_intermediate"]["value"] == 1
    assert cards["female_share_new_enrolments"]["value"] == round(1 / 3, 4)
    assert cards["digitised_diplomas_share"]["value"] is None  # no graduates yet
    labour = cards["trained_labour_share"]
    assert (labour["value"], labour["source"], labour["computed"]) == (0.62, "entered", False)
    assert labour["entered_by"] and labour["entered_at"]
    assert [t["value"] for t in labour["targets"] if t["scope"] == "province"] == [0.7]
    assert cards["connected_share"]["trend"][str(YEAR)] == 0.25
    assert cards["trainees_total"]["trend"][str(YEAR - 1)] == 0


async def test_targets_edited_by_the_ministry_with_audit(platform: Platform, seeded: dict[str, Any]) -> None:
    ministry = seeded["ministry"]
    hcm = await login(platform, "officer.hcm.demo", "dev-only-Officer#2026")
    body = {"source_decision": f"Kế hoạch {uuid.uuid4().hex[:6]}", "indicator": "it_skills_share", "province_code": "031",
            "year": 2030, "value": 0.9, "note": "Hải Phòng"}
    async with platform.client("records") as c:
        refused = await c.post("/v1/oversight/targets", json=body, headers=hcm)
        unknown = await c.post("/v1/oversight/targets", json={**body, "indicator": "nope"}, headers=ministry)
        created = await c.post("/v1/oversight/targets", json=body, headers=ministry)
        target_id = created.json()["id"]
        clash = await c.post("/v1/oversight/targets", json={**body, "value": 0.8}, headers=ministry)
        stale = await c.patch(f"/v1/oversight/targets/{target_id}", json={"value": 0.95}, headers=ministry | {"If-Match": '"t7"'})
        changed = await c.patch(f"/v1/oversight/targets/{target_id}", json={"value": 0.95},
                                headers=ministry | {"If-Match": created.headers["etag"]})
        by_officer = await c.patch(f"/v1/oversight/targets/{target_id}", json={"value": 0.1}, headers=hcm)
        history = await c.get(f"/v1/oversight/targets/{target_id}/history", headers=ministry)
        seen_by_hcm = await c.get("/v1/oversight/targets", headers=hcm)
    assert refused.status_code == 403 and unknown.status_code == 422 and "indicator" in unknown.text
    assert created.status_code == 201 and created.json()["scope"] == "province"
    assert clash.status_code == 409 and clash.json()["target_id"] == target_id
    assert stale.status_code == 412
    assert changed.status_code == 200 and changed.json()["value"] == 0.95 and changed.json()["version"] == 2
    assert by_officer.status_code == 403
    entries = history.json()
    assert [e["action"] for e in entries] == ["updated", "created"]
    assert entries[0]["before"]["value"] == 0.9 and entries[0]["after"]["value"] == 0.95 and entries[0]["actor"]
    assert target_id not in {t["id"] for t in seen_by_hcm.json()}  # Hải Phòng's, not TP HCM's
    assert all(t["province_code"] in (None, "079") for t in seen_by_hcm.json())


async def test_diplomas_counted_from_credentials_events(platform: Platform, seeded: dict[str, Any]) -> None:
    creds = platform.settings["credentials"]
    deliver = {"Authorization": f"Bearer {await platform.token(creds.client_id, creds.client_secret)}"}
    x = seeded["schools"]["X"]
    credential_id = str(uuid.uuid4())

    def event(kind: str, status: str) -> dict[str, Any]:
        return {"specversion": "1.0", "id": str(uuid.uuid4()), "type": f"vn.vet.credentials.credential.{kind}",
                "source": "credentials", "subject": credential_id, "time": utcnow().isoformat(),
                "data": {"credential_id": credential_id, "type": "diploma", "level": "college", "institution_code": x,
                         "person_id": None, "learner_id": "L1", "award_year": YEAR, "status": status}}

    async with platform.client("records") as c:
        issued = event("issued", "active")
        for body in (issued, issued):  # a repeat is a no-op
            r = await c.post("/v1/events", json=body, headers=deliver)
            assert r.status_code in (200, 202), r.text
        after_issue = await c.get("/v1/oversight/connections", params={"province": PROVINCE}, headers=seeded["ministry"])
        r = await c.post("/v1/events", json=event("revoked", "revoked"), headers=deliver)
        assert r.status_code == 202, r.text
        after_revoke = await c.get("/v1/oversight/connections", params={"province": PROVINCE}, headers=seeded["ministry"])
    row = next(r for r in after_issue.json()["items"] if r["code"] == x)
    assert row["diplomas_issued"] == 1 and row["freshness"]["diplomas"]
    # issued stays issued once revoked (the count of diplomas issued; the digitised share leaves revoked ones out)
    assert next(r for r in after_revoke.json()["items"] if r["code"] == x)["diplomas_issued"] == 1

    # five more credentials, each one's three events delivered at once (the outbox sends in parallel): none is
    # refused for a race on the credential's row (they were: two inserts, a unique violation, 500), each counts once
    events = []
    for _ in range(5):
        credential_id = str(uuid.uuid4())
        events += [event(kind, status) for kind, status in (("issued", "active"), ("suspended", "suspended"), ("revoked", "revoked"))]
    # and the first of them sent four more times meanwhile (a sender retrying while its first attempt runs): those
    # are told "duplicate" (they were: a unique violation on the inbox, 500)
    async with platform.client("records") as c:
        answers = await asyncio.gather(*(c.post("/v1/events", json=body, headers=deliver) for body in events + [events[0]] * 4))
        assert sorted(r.status_code for r in answers) == [200] * 4 + [202] * 15, [r.text for r in answers if r.status_code >= 300]
        assert sorted(r.json()["status"] for r in answers) == ["accepted"] * 15 + ["duplicate"] * 4
        board = await c.get("/v1/oversight/connections", params={"province": PROVINCE}, headers=seeded["ministry"])
    assert next(r for r in board.json()["items"] if r["code"] == x)["diplomas_issued"] == 6
