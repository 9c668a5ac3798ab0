"""Sync jobs in small chunks, as a large upload runs: the next chunk of grades is validated while the current one
is written, yet rows still apply in order (grades right after the learners they need, a sitting sent twice audited
old → new), errors land on the right rows, and all_or_nothing applies nothing. JSON batches are read as a stream
(shape errors name the field before any row is applied); OneRoster results are grouped however they are spread."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.records.helpers import code, errors_of, grade, id_number, learner, run_json, run_ok, wait_job, world
from tests.records.test_oneroster import manifest, zip_of
from tests.support import Platform


@pytest.fixture
def small_chunks(platform: Platform) -> Iterator[None]:
    runner = platform.apps["records"].state.sync_runner
    saved = runner.chunk_rows
    runner.chunk_rows = 2
    try:
        yield
    finally:
        runner.chunk_rows = saved


async def grade_history(c: Any, school: dict[str, str], row: dict[str, Any]) -> list[tuple[Any, Any, str]]:
    r = await c.post("/v1/institutions/CD0101/grades", json=row, headers=school)  # the same values: unchanged, 200
    assert r.status_code == 200, r.text
    history = (await c.get(f"/v1/grades/{r.json()['id']}/history", headers=school)).json()
    return [(h["old"] and h["old"]["score"], h["new"] and h["new"]["score"], h["source"]) for h in history]


@pytest.mark.parametrize("mode", ["accept_valid", "all_or_nothing"])
async def test_chunks_of_two_rows_apply_in_order(platform: Platform, small_chunks: None, mode: str) -> None:
    school = await platform.school_headers()
    p, t, k = code("CNTT"), code("HK"), code("K")
    a, b = id_number(), id_number(century_gender=3)
    # rows: programme, term | cohort, learner a | learner b, grade 1 | grade 2, grade 3 | grade 4, grade 5 | grade 6
    grades = [
        grade(a, p, "M1", t, "6", "6"),
        grade(b, p, "M1", t, "5", "5"),    # b was created in the chunk before: validated only after it committed
        grade(a, p, "M2", t, "7", "7"),
        grade(a, p, "M1", t, "8", "8"),    # a's M1 again, in a later chunk: an update, old 6 → new 8
        grade(b, p, "M2", t, "9", "9"),
        grade(b, p, "M2", t, "9.5", "9.5"),  # twice in one chunk: written in order, 9 → 9.5
    ]
    async with platform.client("records") as c:
        job = await run_json(c, school, world(p, t, k, [learner(a, "Phan Văn Tú", p, k), learner(b, "Đỗ Thị Lan", p, k)], grades), mode=mode)
        assert job["status"] == "succeeded", (job, await errors_of(c, job, school))
        assert (job["rows_total"], job["rows_read"], job["created"], job["updated"], job["rejected"]) == (11, 11, 9, 2, 0)
        assert await grade_history(c, school, grade(a, p, "M1", t, "8", "8")) == [(None, "6", "sync"), ("6", "8", "sync")]
        assert await grade_history(c, school, grade(b, p, "M2", t, "9.5", "9.5")) == [(None, "9", "sync"), ("9", "9.5", "sync")]
        assert await grade_history(c, school, grade(b, p, "M1", t, "5", "5")) == [(None, "5", "sync")]
        versions = [x["version"] for x in (await c.get("/v1/changes", params={"since": 0, "limit": 5000}, headers=school)).json()["items"]]
        assert versions == sorted(set(versions))


async def test_bad_rows_in_later_chunks(platform: Platform, small_chunks: None) -> None:
    school = await platform.school_headers()
    p, t, k = code("CNTT"), code("HK"), code("K")
    a = id_number()
    async with platform.client("records") as c:
        await run_ok(c, school, world(p, t, k, [learner(a, "Trịnh Văn Hải", p, k)], []))
        rows = [grade(a, p, "M1", t, "7", "7"), grade(a, p, "NOPE", t, "7", "7"), grade(a, p, "M2", t, "7", "11"),
                grade(id_number(), p, "M2", t, "7", "7"), grade(a, p, "GDQP", t, "8", "8"), "not a row"]
        nothing = await run_json(c, school, {"grades": rows}, mode="all_or_nothing")
        assert (nothing["status"], nothing["rows_read"], nothing["rejected"], nothing["created"]) == ("failed", 6, 4, 0)
        expected = [(2, "module_code"), (3, "components.final"), (4, "id_number"), (6, "row")]
        assert [(e["row"], e["field"]) for e in await errors_of(c, nothing, school)] == expected
        transcript_url = (await c.get("/v1/institutions/CD0101/learners", params={"limit": 500}, headers=school)).json()["items"]
        mine = next(x for x in transcript_url if x["full_name"] == "Trịnh Văn Hải" and x["enrolments"][0]["programme_code"] == p)
        assert (await c.get(mine["enrolments"][0]["transcript_url"], headers=school)).json()["sittings"] == []
        valid = await run_json(c, school, {"grades": rows}, mode="accept_valid")
        assert (valid["status"], valid["created"], valid["rejected"]) == ("completed_with_errors", 2, 4)
        assert [(e["row"], e["field"]) for e in await errors_of(c, valid, school)] == expected
        sittings = (await c.get(mine["enrolments"][0]["transcript_url"], headers=school)).json()["sittings"]
        assert sorted((s["module_code"], s["score"]) for s in sittings) == [("GDQP", "8"), ("M1", "7")]


@pytest.mark.parametrize(("body", "field"), [
    (b'{"grades": [], "marks": []}', "marks"),
    (b'{"grades": {"id_number": "001204000001"}}', "grades"),
    (b'{"terms": [], "terms": []}', "terms"),
    (b'[{"grades": []}]', "body"),
    (b'{"terms": [{"code": "X", "name": "X"}], "grades": [', "body"),
])
async def test_json_shape_errors_name_the_field_and_apply_nothing(platform: Platform, body: bytes, field: str) -> None:
    school = await platform.school_headers()
    async with platform.client("records") as c:
        before = (await c.get("/v1/changes", headers=school)).json()["latest_version"]
        r = await c.post("/v1/institutions/CD0101/sync/json", params={"mode": "accept_valid"}, content=body,
                         headers=school | {"content-type": "application/json"})
        assert r.status_code == 202, r.text
        job = await wait_job(c, r.json()["id"], school)
        assert job["status"] == "failed" and job["error"].startswith(f"{field}:"), job
        assert [e["field"] for e in await errors_of(c, job, school)] == [field]
        assert (await c.get("/v1/changes", params={"since": before}, headers=school)).json()["items"] == []


async def test_json_record_types_apply_in_their_order_whatever_the_file_order(platform: Platform) -> None:
    school = await platform.school_headers()
    p, t, k, a = code("CNTT"), code("HK"), code("K"), id_number()
    batch = world(p, t, k, [learner(a, "Mai Anh", p, k)], [grade(a, p, "M1", t, "9", "9")])
    reordered = {name: batch[name] for name in ("grades", "learners", "cohorts", "terms", "programmes")}
    async with platform.client("records") as c:
        job = await run_json(c, school, reordered)
        assert (job["status"], job["rows_total"], job["created"]) == ("succeeded", 5, 5), job


async def test_oneroster_results_spread_over_the_file(platform: Platform) -> None:
    """A student's results for one class need not be next to each other: they still make one grade; a later score
    for the same line item wins; a ``tobedeleted`` result removes the grade."""
    school = await platform.school_headers()
    p, k = code("CNTT"), code("K")
    a, b = id_number(), id_number(century_gender=3)
    async with platform.client("records") as c:
        await run_ok(c, school, world(p, code("HK"), k, [], []))
        term = code("or-term")
        head = "sourcedId,status,dateLastModified,lineItemSourcedId,studentSourcedId,scoreStatus,score,textScore,scoreDate,comment\n"
        files = {
            "manifest.csv": manifest("bulk"),
            "orgs.csv": "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\norg1,active,,Trường demo,school,CD0101,\n",
            "academicSessions.csv": f"sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear\n{term},active,,Học kỳ 1,term,2024-09-01,2025-01-15,,2025\n",
            "courses.csv": f"sourcedId,status,dateLastModified,title,courseCode,metadata.vn.programmeCode,metadata.vn.credits\nc1,active,,Lập trình web,WEB1,{p},3\n",
            "classes.csv": f"sourcedId,status,dateLastModified,title,courseSourcedId,termSourcedIds\ncl1,active,,Lớp web,c1,{term}\n",
            "users.csv": f"sourcedId,status,givenName,familyName,middleName,identifier,userMasterIdentifier,roles\nu1,active,An,Nguyễn,Văn,SV1,{a},student\nu2,active,Bình,Lê,Thị,SV2,{b},student\n",
            "enrollments.csv": "sourcedId,status,classSourcedId,userSourcedId,role,beginDate\ne1,active,cl1,u1,student,2024-09-05\ne2,active,cl1,u2,student,2024-09-05\n",
            "lineItems.csv": "sourcedId,status,title,classSourcedId,metadata.vn.component\nli1,active,Thường xuyên,cl1,continuous\nli2,active,Thi kết thúc,cl1,final\n",
            "results.csv": head + "r1,active,,li1,u1,fully graded,5,,,\nr2,active,,li1,u2,fully graded,6,,,\nr3,active,,li2,u2,fully graded,7,,,\n"
                                  "r4,active,,li9,u1,fully graded,1,,,\nr5,active,,li2,u1,fully graded,8,,,\nr6,active,,li1,u1,fully graded,9,,,\n",
        }
        r = await c.post("/v1/institutions/CD0101/sync/oneroster", params={"mode": "accept_valid"}, content=zip_of(files),
                         headers=school | {"content-type": "application/zip"})
        job = await wait_job(c, r.json()["id"], school)
        assert (job["status"], job["created"], job["rejected"]) == ("completed_with_errors", 1 + 1 + 2 + 2 + 2, 1), job
        assert [(e["row"], e["field"]) for e in await errors_of(c, job, school)] == [(5, "lineItemSourcedId")]
        learners = (await c.get("/v1/institutions/CD0101/learners", params={"limit": 500}, headers=school)).json()["items"]
        by_name = {x["full_name"]: x for x in learners if x["enrolments"] and x["enrolments"][0]["programme_code"] == p}
        an = (await c.get(by_name["Nguyễn Văn An"]["enrolments"][0]["transcript_url"], headers=school)).json()["sittings"]
        binh = (await c.get(by_name["Lê Thị Bình"]["enrolments"][0]["transcript_url"], headers=school)).json()["sittings"]
        assert [(s["module_code"], s["components"]) for s in an] == [("WEB1", {"continuous": "9", "final": "8"})]
        assert [(s["module_code"], s["components"]) for s in binh] == [("WEB1", {"continuous": "6", "final": "7"})]
        delta = dict(files, **{"manifest.csv": manifest("delta"),
                               "results.csv": head + "r2,tobedeleted,,li1,u2,,,,,\nr1,active,,li1,u1,fully graded,9,,,\nr3,active,,li2,u2,fully graded,7,,,\n"
                                              "r5,active,,li2,u1,fully graded,8,,,\n"})
        r = await c.post("/v1/institutions/CD0101/sync/oneroster", content=zip_of(delta), headers=school | {"content-type": "application/zip"})
        job = await wait_job(c, r.json()["id"], school)
        assert job["status"] == "succeeded", (job, await errors_of(c, job, school))
        binh = (await c.get(by_name["Lê Thị Bình"]["enrolments"][0]["transcript_url"], headers=school)).json()["sittings"]
        assert binh == []


@pytest.mark.parametrize("broken", [False, True])
async def test_all_or_nothing_progress_is_visible_while_the_job_runs(platform: Platform, small_chunks: None, broken: bool) -> None:
    """An all_or_nothing job's counts commit only at its end, yet a school watching it sees the rows read so far;
    on PostgreSQL also as another replica would (from sync_job_progress, not this process's memory)."""
    runner = platform.apps["records"].state.sync_runner
    school = await platform.school_headers()
    p, k, t = code("CNTT"), code("K"), code("HK")
    people = [id_number() for _ in range(4)]
    rows = [grade(n, p, m, t, "7", "11" if broken and n == people[-1] and m == "M2" else "8") for n in people for m in ("M1", "M2")]
    async with platform.client("records") as c:
        await run_ok(c, school, world(p, t, k, [learner(n, f"Học viên {i}", p, k) for i, n in enumerate(people)], []))
        seen: list[tuple[str, int, int, int | None]] = []
        original = runner._note_progress

        async def note_and_look(job_id: Any, tally: Any) -> None:
            await original(job_id, tally)
            if platform.apps["records"].state.db.dialect == "postgresql":
                runner.progress.clear()  # as if another replica ran the job: only the progress row tells
            job = (await c.get(f"/v1/sync-jobs/{job_id}", headers=school)).json()
            seen.append((job["status"], job["rows_read"], job["rejected"], job["rows_total"]))

        runner._note_progress = note_and_look  # type: ignore[method-assign]
        try:
            job = await run_json(c, school, {"grades": rows})
        finally:
            del runner._note_progress
    assert job["status"] == ("failed" if broken else "succeeded") and job["rows_read"] == len(rows)
    reads = [r for status, r, _, total in seen if status == "running" and total == len(rows)]
    assert reads and reads[0] < len(rows), seen  # seen part-way, before the job ended
    assert reads == sorted(reads) and len(set(reads)) > 1, seen  # growing chunk by chunk, never going back
    if broken:
        assert seen[-1][2] == 1, seen  # the broken row is counted as rejected while the job still runs
