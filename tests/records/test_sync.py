"""Bulk sync through the API: a valid batch, its replay (no change), bad rows in both modes with precise errors,
CSV, a cross-institution attempt refused, Idempotency-Key."""

from __future__ import annotations

import pytest

from tests.records.helpers import code, errors_of, grade, id_number, learner, run_json, run_ok, wait_job, world
from tests.support import Platform

#: no call to identity (or another service) while a write transaction is open: services.common.testing.WriteTransactions
pytestmark = pytest.mark.usefixtures("no_calls_in_write_transactions")


async def test_valid_batch_then_replay_changes_nothing(platform: Platform) -> None:
    school = await platform.school_headers()
    p, t, k = code("CNTT"), code("HK"), code("K")
    a, b = id_number(), id_number(century_gender=3)
    batch = world(p, t, k,
                  [learner(a, "Nguyễn Văn An", p, k, sex="male", ethnicity="Kinh"),
                   learner(b, "Lò Thị Bình", p, k, sex="female", ethnicity="Thái", disability=True)],
                  [grade(a, p, "M1", t, "8.0", "8.75"), grade(b, p, "M1", t, "4.7", "3.45")])
    async with platform.client("records") as c:
        job = await run_json(c, school, batch)
        assert job["status"] == "succeeded", job
        # programme (+3 modules counted on its row), term, cohort, 2 learners (+ enrolments), 2 grades
        assert (job["rows_read"], job["created"], job["rejected"]) == (7, 7, 0)
        feed = (await c.get("/v1/changes", headers=school)).json()
        before = feed["latest_version"]
        replay = await run_json(c, school, batch)
        assert replay["status"] == "succeeded"
        assert (replay["created"], replay["updated"], replay["unchanged"]) == (0, 0, 7)
        after = (await c.get("/v1/changes", params={"since": before}, headers=school)).json()
        assert after["items"] == []
        learners = (await c.get("/v1/institutions/CD0101/learners", params={"limit": 500}, headers=school)).json()["items"]
        mine = [x for x in learners if x["full_name"] in ("Nguyễn Văn An", "Lò Thị Bình") and x["enrolments"][0]["programme_code"] == p]
        assert len(mine) == 2
        # the school's own system reads its learners' numbers whole (its own data); teachers see them masked
        # (tests/security/test_api3_broken_object_property_level_authorization.py)
        assert {x["id_number"] for x in mine} == {a, b} and not any(x["id_number_masked"] for x in mine)
        binh = next(x for x in mine if x["full_name"] == "Lò Thị Bình")
        assert binh["ethnic_minority"] and binh["disability"]
        transcript = (await c.get(binh["enrolments"][0]["transcript_url"], headers=school)).json()
        assert transcript["sittings"][0]["score"] == "4" and transcript["sittings"][0]["letter"] == "D"  # 3.95 → 4.0


async def test_idempotency_key_returns_the_first_job(platform: Platform) -> None:
    school = await platform.school_headers()
    p, t, k = code("CNTT"), code("HK"), code("K")
    batch = world(p, t, k, [], [])
    async with platform.client("records") as c:
        key = {"Idempotency-Key": code("key")}
        first = await c.post("/v1/institutions/CD0101/sync/json", json=batch, headers=school | key)
        again = await c.post("/v1/institutions/CD0101/sync/json", json=batch, headers=school | key)
        assert first.status_code == again.status_code == 202
        assert first.json()["id"] == again.json()["id"] and again.headers.get("idempotent-replayed") == "true"
        await wait_job(c, first.json()["id"], school)


def bad_batch(p: str, t: str, k: str, good: str, unenrolled: str) -> dict:
    batch = world(p, t, k, [learner(good, "Phạm Minh Châu", p, k)], [])
    batch["learners"].append({"id_number": unenrolled, "full_name": "Đỗ Văn Dũng"})  # a learner without enrolment
    batch["learners"].append({"id_number": "001203", "full_name": "Số Sai"})  # row 3: ID invalid
    batch["learners"].append({"id_number": id_number(century_gender=3), "full_name": "Giới Tính Sai", "sex": "male"})  # row 4: digit 4 says female
    batch["grades"] = [
        grade(good, p, "M1", t, "7", "8"),            # 1 fine
        grade(good, "NOPE", "M1", t, "7", "8"),       # 2 unknown programme
        grade(good, p, "M9", t, "7", "8"),            # 3 module not in programme
        grade(good, p, "M2", t, "7", "10.5"),         # 4 score out of range
        grade(unenrolled, p, "M1", t, "7", "8"),      # 5 learner not enrolled
        grade(id_number(), p, "M1", t, "7", "8"),     # 6 no such learner
    ]
    return batch


async def test_bad_rows_all_or_nothing_applies_nothing(platform: Platform) -> None:
    school = await platform.school_headers()
    p, t, k = code("CNTT"), code("HK"), code("K")
    async with platform.client("records") as c:
        job = await run_json(c, school, bad_batch(p, t, k, id_number(), id_number()), mode="all_or_nothing")
        assert job["status"] == "failed" and "nothing was applied" in job["error"]
        assert job["created"] == 0 and job["rejected"] == 7
        programmes = (await c.get("/v1/institutions/CD0101/programmes", headers=school)).json()
        assert p not in {x["code"] for x in programmes}


async def test_bad_rows_accept_valid_applies_the_good_ones_and_reports_each(platform: Platform) -> None:
    school = await platform.school_headers()
    p, t, k = code("CNTT"), code("HK"), code("K")
    async with platform.client("records") as c:
        job = await run_json(c, school, bad_batch(p, t, k, id_number(), id_number()), mode="accept_valid")
        assert job["status"] == "completed_with_errors", job
        assert (job["rows_read"], job["rejected"]) == (13, 7)
        errors = {(e["source"], e["row"], e["field"]): e["message"] for e in await errors_of(c, job, school)}
        assert ("learners", 3, "id_number") in errors
        assert "encodes female" in errors[("learners", 4, "id_number")]
        assert "unknown programme" in errors[("grades", 2, "programme_code")]
        assert "not in programme" in errors[("grades", 3, "module_code")]
        assert "between 0 and 10" in errors[("grades", 4, "components.final")]
        assert "not enrolled" in errors[("grades", 5, "programme_code")]
        assert "no learner" in errors[("grades", 6, "id_number")]
        programmes = (await c.get("/v1/institutions/CD0101/programmes", headers=school)).json()
        assert p in {x["code"] for x in programmes}


async def test_csv_grades_with_a_bad_row(platform: Platform) -> None:
    school = await platform.school_headers()
    p, t, k = code("CNTT"), code("HK"), code("K")
    a = id_number()
    async with platform.client("records") as c:
        await run_ok(c, school, world(p, t, k, [learner(a, "Vũ Thị Hà", p, k)], []))
        csv_text = (
            "id_number,programme_code,module_code,term_code,continuous,final\n"
            f"{a},{p},M1,{t},7.1,6.85\n"
            f"{a},{p},M2,{t},abc,5\n"
            f"{a},{p},GDQP,{t},9,9\n"
        )
        r = await c.post("/v1/institutions/CD0101/sync/csv", params={"entity": "grades", "mode": "accept_valid"},
                         content=csv_text.encode(), headers=school | {"content-type": "text/csv"})
        assert r.status_code == 202, r.text
        job = await wait_job(c, r.json()["id"], school)
        assert (job["rows_total"], job["created"], job["rejected"]) == (3, 2, 1)
        assert [(e["row"], e["field"]) for e in await errors_of(c, job, school)] == [(3, "components.continuous")]


async def test_another_institution_is_refused(platform: Platform) -> None:
    school = await platform.school_headers()  # CD0101's system
    async with platform.client("records") as c:
        write = await c.post("/v1/institutions/TC7901/sync/json", json={"terms": []}, headers=school)
        read = await c.get("/v1/institutions/TC7901/learners", headers=school)
        grade_entry = await c.post("/v1/institutions/TC7901/grades", json=grade(id_number(), "X", "M1", "T", "1", "1"), headers=school)
        mine = await c.get("/v1/institutions/CD0101/sync-jobs", headers=school)
    assert write.status_code == 403 and write.headers["content-type"].startswith("application/problem+json")
    assert read.status_code == 403 and grade_entry.status_code == 403
    assert mine.status_code == 200


async def test_replay_across_chunks_updates_grades_of_learners_met_in_an_earlier_chunk(platform: Platform) -> None:
    """An all_or_nothing job applies its chunks with one workspace: learners read in one chunk (their rows) and graded
    in a later one must have their stored grades found, so a replay is unchanged and a changed score an update, not a
    second grade for the same sitting."""
    school = await platform.school_headers()
    p, t, k = code("CNTT"), code("HK"), code("K")
    numbers = [id_number() for _ in range(3)]
    names = ["Hà Văn Một", "Hà Thị Hai", "Hà Văn Ba"]
    runner = platform.apps["records"].state.sync_runner
    saved = runner.chunk_rows
    runner.chunk_rows = 3  # programme, term, cohort | the three learners | their grades
    try:
        async with platform.client("records") as c:
            batch = world(p, t, k, [learner(n, name, p, k) for n, name in zip(numbers, names, strict=True)],
                          [grade(n, p, "M1", t, "6", "6") for n in numbers])
            await run_ok(c, school, batch)
            replay = await run_json(c, school, batch)
            assert replay["status"] == "succeeded" and (replay["created"], replay["updated"], replay["unchanged"]) == (0, 0, 9), replay
            batch["grades"][1] = grade(numbers[1], p, "M1", t, "9", "9")
            changed = await run_json(c, school, batch)
            assert changed["status"] == "succeeded" and (changed["updated"], changed["unchanged"]) == (1, 8), (
                changed, await errors_of(c, changed, school))
            learners = (await c.get("/v1/institutions/CD0101/learners", params={"limit": 500}, headers=school)).json()["items"]
            hai = next(x for x in learners if x["full_name"] == "Hà Thị Hai" and x["enrolments"][0]["programme_code"] == p)
            transcript = (await c.get(hai["enrolments"][0]["transcript_url"], headers=school)).json()
            assert [(s["module_code"], s["score"]) for s in transcript["sittings"]] == [("M1", "9")]
    finally:
        runner.chunk_rows = saved
