"""Grade rows written set-based (a sync on PostgreSQL: COPY, one upsert per batch) and row by row (the ORM: SQLite,
or ``RECORDS_SYNC_BULK_WRITES=false``) give the same job: the same rows rejected with the same errors, the same
counts, the same audit trail and the same change feed; a batch sent again changes nothing. Each test runs once per
write path, against one set of expectations; the set-based path exists on PostgreSQL only."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.records.helpers import code, errors_of, grade, id_number, learner, run_json, run_ok, wait_job, world
from tests.support import Platform

PATHS = ["rows", "set-based"]


@contextlib.contextmanager
def write_path(platform: Platform, path: str, chunk_rows: int) -> Iterator[None]:
    """The records sync worker writing grades ``path``'s way, in chunks of ``chunk_rows`` rows."""
    runner = platform.apps["records"].state.sync_runner
    if path == "set-based" and platform.apps["records"].state.db.dialect != "postgresql":
        pytest.skip("grades are written set-based on PostgreSQL only")
    saved = runner.bulk, runner.chunk_rows
    runner.bulk, runner.chunk_rows = path == "set-based", chunk_rows
    try:
        yield
    finally:
        runner.bulk, runner.chunk_rows = saved


def normalised(text: str, names: dict[str, str]) -> str:
    for value, name in names.items():
        text = text.replace(value, name)
    return text


async def feed_since(c: httpx.AsyncClient, headers: dict[str, str], since: int, names: dict[str, str]) -> list[tuple[str, str, str]]:
    r = await c.get("/v1/changes", params={"since": since, "limit": 1000}, headers=headers)
    assert r.status_code == 200, r.text
    return [(e["entity"], e["operation"], normalised(str(sorted(e["key"].items())), names)) for e in r.json()["items"]]


async def latest(c: httpx.AsyncClient, headers: dict[str, str]) -> int:
    return int((await c.get("/v1/changes", params={"limit": 1}, headers=headers)).json()["latest_version"])


async def history(c: httpx.AsyncClient, headers: dict[str, str], row: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The grade of ``row``'s sitting, entered again through the API (which must find it unchanged), and its audit
    trail: (old, new, source, reason) oldest first."""
    r = await c.post("/v1/institutions/CD0101/grades", json=row, headers=headers)
    assert r.status_code == 200 and r.headers["Grade-Result"] == "unchanged", (r.status_code, r.headers.get("Grade-Result"), r.text)
    h = await c.get(f"/v1/grades/{r.json()['id']}/history", headers=headers)
    assert h.status_code == 200, h.text
    return [(e["old"], e["new"], e["source"], e["reason"]) for e in h.json()]


def snapshot(continuous: str, final: str, score: str, letter: str, points: str, passed: bool) -> dict[str, Any]:
    return {"components": {"continuous": continuous, "final": final}, "score": score, "letter": letter, "points": points, "passed": passed}


@pytest.mark.parametrize("path", PATHS)
async def test_grade_rows_rejected_written_audited_and_fed_alike(platform: Platform, path: str) -> None:
    school = await platform.school_headers()
    p, t, k = code("CNTT"), code("HK"), code("K")
    a, b, u, w = id_number(), id_number(century_gender=3), id_number(), id_number()
    stranger = id_number()
    names = {p: "<P>", t: "<T>", k: "<K>", a: "<a>", b: "<b>", u: "<u>", w: "<w>", stranger: "<stranger>"}
    setup = world(p, t, k, [learner(a, "Trần Văn An", p, k), learner(b, "Lê Thị Bình", p, k), learner(w, "Ngô Văn Rời", p, k)], [])
    setup["learners"].append({"id_number": u, "full_name": "Đỗ Văn Dũng"})  # a learner without enrolment
    setup["enrolments"] = [{"id_number": w, "programme_code": p, "status": "withdrawn", "status_reason": "chuyển trường"}]
    missing_final = grade(a, p, "M2", t, "7", "8")
    missing_final["components"] = {"continuous": "7"}
    extra_component = grade(a, p, "M2", t, "7", "8")
    extra_component["components"]["project"] = "9"
    with_reason = grade(b, p, "GDQP", t, "5", "6")
    with_reason["reason"] = "thi lại"
    rows = [
        grade(a, p, "M1", t, "7", "8"),              # 1 created
        grade(a, "NOPE", "M1", t, "7", "8"),         # 2 unknown programme
        grade(a, p, "M9", t, "7", "8"),              # 3 module not in programme
        grade(a, p, "M2", t, "7", "10.5"),           # 4 score out of range
        grade(u, p, "M1", t, "7", "8"),              # 5 not enrolled
        grade(stranger, p, "M1", t, "7", "8"),       # 6 no such learner
        grade("001203", p, "M1", t, "7", "8"),       # 7 not an ID number
        missing_final,                               # 8 a component missing
        extra_component,                             # 9 a component the module does not weigh
        grade(b, p, "M1", t, "6", "6"),              # 10 created
        grade(b, p, "M1", t, "9", "9"),              # 11 the same sitting again, same chunk: updated
        grade(w, p, "M1", t, "7", "8"),              # 12 withdrawn
        grade(a, p, "GDQP", t, "9", "9"),            # 13 created
        grade(b, p, "M2", "NOPE", "7", "8"),         # 14 unknown term
        grade(a, p, "M1", t, "7", "8"),              # 15 the sitting of row 1, same values, a later chunk: unchanged
        with_reason,                                 # 16 created, with a reason
        grade(a, p, "M1", t, "7.5", "8"),            # 17 the sitting of row 1 again, changed: updated
    ]
    expected_errors = [
        (2, "programme_code", "unknown programme 'NOPE' at institution CD0101"),
        (3, "module_code", "module 'M9' is not in programme <P>"),
        (4, "components.final", "a score is between 0 and 10"),
        (5, "programme_code", "the learner is not enrolled in programme <P>"),
        (6, "id_number", "no learner with this personal ID number at institution CD0101"),
        (7, "id_number", "a personal ID number has 12 digits; this one has 6 digits"),
        (8, "components.final", "missing"),
        (9, "components.project", "not an assessment component of this module (expected continuous, final)"),
        (12, "id_number", "the learner has withdrawn from this programme"),
        (14, "term_code", "unknown term 'NOPE' at institution CD0101"),
    ]
    async with platform.client("records") as c:
        await run_ok(c, school, setup, mode="accept_valid")
        before = await latest(c, school)
        with write_path(platform, path, chunk_rows=4):  # rows 9-12 in one chunk, 13-16 in the next
            job = await run_json(c, school, {"grades": rows}, mode="accept_valid")
            errors = [(e["row"], e["field"], normalised(e["message"], names)) for e in await errors_of(c, job, school)]
            assert all(e["source"] == "grades" for e in await errors_of(c, job, school))
            assert errors == expected_errors, errors
            assert job["status"] == "completed_with_errors"
            assert {x: job[x] for x in ("rows_read", "created", "updated", "unchanged", "rejected")} == {
                "rows_read": 17, "created": 4, "updated": 2, "unchanged": 1, "rejected": 10}, job
            sitting = "[('id_number', '{n}'), ('institution_code', 'CD0101'), ('module_code', '{m}'), ('programme_code', '<P>'), ('term_code', '<T>')]"
            upserts = [("grade", "upsert", sitting.format(n=n, m=m)) for n, m in
                       [("<a>", "M1"), ("<b>", "M1"), ("<b>", "M1"), ("<a>", "GDQP"), ("<b>", "GDQP"), ("<a>", "M1")]]
            assert sorted(await feed_since(c, school, before, names)) == sorted(upserts)

            # the rows of the final state sent again (rows 1, 10 and 15 were overwritten by later rows of the batch):
            # nothing changes, the same rows are rejected the same way
            middle = await latest(c, school)
            final = [r for n, r in enumerate(rows, start=1) if n not in (1, 10, 15)]
            again = await run_json(c, school, {"grades": final}, mode="accept_valid")
            assert {x: again[x] for x in ("rows_read", "created", "updated", "unchanged", "rejected")} == {
                "rows_read": 14, "created": 0, "updated": 0, "unchanged": 4, "rejected": 10}, again
            renumbered = [(n - 1 - (n > 10), f, m) for n, f, m in expected_errors]
            assert [(e["row"], e["field"], normalised(e["message"], names)) for e in await errors_of(c, again, school)] == renumbered
            assert await feed_since(c, school, middle, names) == []

        sync = "sync"
        assert await history(c, school, grade(a, p, "M1", t, "7.5", "8")) == [
            (None, snapshot("7", "8", "7.6", "B", "3", True), sync, None),
            (snapshot("7", "8", "7.6", "B", "3", True), snapshot("7.5", "8", "7.8", "B", "3", True), sync, None)]
        assert await history(c, school, grade(b, p, "M1", t, "9", "9")) == [
            (None, snapshot("6", "6", "6", "C", "2", True), sync, None),
            (snapshot("6", "6", "6", "C", "2", True), snapshot("9", "9", "9", "A", "4", True), sync, None)]
        assert await history(c, school, grade(a, p, "GDQP", t, "9", "9")) == [(None, snapshot("9", "9", "9", "A", "4", True), sync, None)]
        assert await history(c, school, with_reason) == [(None, snapshot("5", "6", "5.6", "C", "2", True), sync, "thi lại")]


@pytest.mark.parametrize("path", PATHS)
async def test_a_csv_of_grades_sent_twice_changes_nothing_the_second_time(platform: Platform, path: str) -> None:
    """A term's grades by CSV (the bench's shape: several chunks, all new) and the same file again."""
    school = await platform.school_headers()
    p, t, k = code("CNTT"), code("HK"), code("K")
    numbers = [id_number() for _ in range(5)]
    lines = ["id_number,programme_code,module_code,term_code,continuous,final"]
    lines += [f"{n},{p},{m},{t},{3 + i % 7}.5,{4 + i % 6}" for i, n in enumerate(numbers) for m in ("M1", "M2", "GDQP")]
    body = ("\n".join(lines) + "\n").encode()
    async with platform.client("records") as c:
        await run_ok(c, school, world(p, t, k, [learner(n, f"Học Viên {i}", p, k) for i, n in enumerate(numbers)], []))
        before = await latest(c, school)
        with write_path(platform, path, chunk_rows=4):
            jobs = []
            for _ in range(2):
                r = await c.post("/v1/institutions/CD0101/sync/csv", params={"entity": "grades", "mode": "accept_valid"},
                                 content=body, headers=school | {"content-type": "text/csv"})
                assert r.status_code == 202, r.text
                jobs.append(await wait_job(c, r.json()["id"], school))
                if len(jobs) == 1:
                    middle = await latest(c, school)
        first, second = ({x: j[x] for x in ("status", "rows_read", "created", "updated", "unchanged", "rejected")} for j in jobs)
        assert first == {"status": "succeeded", "rows_read": 15, "created": 15, "updated": 0, "unchanged": 0, "rejected": 0}
        assert second == {"status": "succeeded", "rows_read": 15, "created": 0, "updated": 0, "unchanged": 15, "rejected": 0}
        assert middle - before == 15 and await latest(c, school) == middle
        assert len(await history(c, school, grade(numbers[2], p, "M2", t, "5.5", "6"))) == 1


async def test_a_grade_inserted_by_another_writer_during_the_copy_becomes_an_update(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    """Set-based: a grade with no stored row is COPY'd straight in; if another writer (here a teacher's entry through
    the API) inserts the same sitting between the sync's read of the stored grades and its COPY, the COPY fails on the
    sitting's uniqueness, its savepoint is rolled back and the row is written again as an update of that grade, the
    audit's ``old`` being the other writer's values."""
    from services.records.grades import repository

    school = await platform.school_headers()
    p, t, k = code("CNTT"), code("HK"), code("K")
    a = id_number()
    real_copy_new = repository._copy_new
    calls = []
    async with platform.client("records") as c:
        await run_ok(c, school, world(p, t, k, [learner(a, "Phan Văn Chen", p, k)], []))

        async def copy_new_after_another_writer(*args: Any, **kw: Any) -> bool:
            if not calls:
                r = await c.post("/v1/institutions/CD0101/grades", json=grade(a, p, "M1", t, "5", "5"), headers=school)
                assert r.status_code == 201, r.text
            calls.append(await real_copy_new(*args, **kw))
            return calls[-1]

        monkeypatch.setattr(repository, "_copy_new", copy_new_after_another_writer)
        monkeypatch.setattr(platform.apps["records"].state.sync_runner, "optimistic", False)  # the careful path
        before = await latest(c, school)
        with write_path(platform, "set-based", chunk_rows=100):
            job = await run_json(c, school, {"grades": [grade(a, p, "M1", t, "7", "8"), grade(a, p, "M2", t, "6", "6")]},
                                 mode="accept_valid")
        assert calls[0] is False  # the first COPY met the teacher's grade and wrote nothing
        assert {x: job[x] for x in ("status", "created", "updated", "rejected")} == {
            "status": "succeeded", "created": 1, "updated": 1, "rejected": 0}, job
        assert await history(c, school, grade(a, p, "M1", t, "7", "8")) == [
            (None, snapshot("5", "5", "5", "D", "1", True), "api", None),
            (snapshot("5", "5", "5", "D", "1", True), snapshot("7", "8", "7.6", "B", "3", True), "sync", None)]
        assert await history(c, school, grade(a, p, "M2", t, "6", "6")) == [(None, snapshot("6", "6", "6", "C", "2", True), "sync", None)]
        assert len(await feed_since(c, school, before, {})) == 3  # the teacher's grade, then the sync's two


async def test_an_optimistic_copy_that_meets_a_stored_grade_writes_its_chunk_again_the_careful_way(
        platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    """Set-based, accept_valid: a chunk's grades are COPY'd as new with no read before. When a teacher's entry
    through the API stored one of their sittings first, that COPY fails, the chunk's transaction is rolled back
    whole (none of its grades, audit rows, change-feed entries or counts stay) and the chunk is written again
    reading the stored grades: the teacher's grade becomes an update with its values as the audit's ``old``, the
    other is created; later chunks of the job read the stored grades first."""
    from services.records.grades import repository

    school = await platform.school_headers()
    p, t, k = code("CNTT"), code("HK"), code("K")
    a, b = id_number(), id_number()
    real_copy_grades = repository._copy_grades
    calls: list[str] = []
    async with platform.client("records") as c:
        await run_ok(c, school, world(p, t, k, [learner(a, "Phan Văn Chen", p, k), learner(b, "Lê Thị Hoa", p, k)], []))

        async def copy_grades_after_another_writer(driver: Any, new: list[Any], **kw: Any) -> None:
            if not calls:
                r = await c.post("/v1/institutions/CD0101/grades", json=grade(a, p, "M1", t, "5", "5"), headers=school)
                assert r.status_code == 201, r.text
            try:
                await real_copy_grades(driver, new, **kw)
            except Exception as exc:
                calls.append(type(exc).__name__)
                raise
            calls.append("copied")

        monkeypatch.setattr(repository, "_copy_grades", copy_grades_after_another_writer)
        before = await latest(c, school)
        with write_path(platform, "set-based", chunk_rows=2):
            job = await run_json(c, school, {"grades": [grade(a, p, "M1", t, "7", "8"), grade(a, p, "M2", t, "6", "6"),
                                                        grade(b, p, "M1", t, "8", "8"), grade(b, p, "M2", t, "9", "9")]},
                                 mode="accept_valid")
        # the optimistic COPY met the teacher's grade; the chunk again (its new grade under a savepoint); the
        # second chunk no longer optimistic, under a savepoint too
        assert calls == ["UniqueViolationError", "copied", "copied"], calls
        assert {x: job[x] for x in ("status", "rows_read", "created", "updated", "unchanged", "rejected")} == {
            "status": "succeeded", "rows_read": 4, "created": 3, "updated": 1, "unchanged": 0, "rejected": 0}, job
        assert await history(c, school, grade(a, p, "M1", t, "7", "8")) == [
            (None, snapshot("5", "5", "5", "D", "1", True), "api", None),
            (snapshot("5", "5", "5", "D", "1", True), snapshot("7", "8", "7.6", "B", "3", True), "sync", None)]
        assert await history(c, school, grade(a, p, "M2", t, "6", "6")) == [(None, snapshot("6", "6", "6", "C", "2", True), "sync", None)]
        assert await history(c, school, grade(b, p, "M2", t, "9", "9")) == [(None, snapshot("9", "9", "9", "A", "4", True), "sync", None)]
        assert len(await feed_since(c, school, before, {})) == 5  # the teacher's grade, then the sync's four, once each


@pytest.mark.parametrize("path", PATHS)
async def test_an_all_or_nothing_job_of_many_chunks(platform: Platform, path: str) -> None:
    """One transaction writing chunk after chunk: set-based, its first chunks' new grades are COPY'd under a savepoint
    each, the later ones staged (a transaction keeps its subtransactions few); every grade is written and audited once."""
    school = await platform.school_headers()
    p, t, k = code("CNTT"), code("HK"), code("K")
    numbers = [id_number() for _ in range(20)]
    rows = [grade(n, p, m, t, str(5 + i % 5), "7") for i, n in enumerate(numbers) for m in ("M1", "M2")]
    async with platform.client("records") as c:
        await run_ok(c, school, world(p, t, k, [learner(n, f"Học Viên {i}", p, k) for i, n in enumerate(numbers)], []))
        before = await latest(c, school)
        with write_path(platform, path, chunk_rows=1):
            job = await run_json(c, school, {"grades": rows}, mode="all_or_nothing")
            again = await run_json(c, school, {"grades": rows}, mode="all_or_nothing")
        assert {x: job[x] for x in ("status", "created", "updated", "unchanged", "rejected")} == {
            "status": "succeeded", "created": 40, "updated": 0, "unchanged": 0, "rejected": 0}, job
        assert {x: again[x] for x in ("status", "created", "updated", "unchanged")} == {
            "status": "succeeded", "created": 0, "updated": 0, "unchanged": 40}, again
        assert await latest(c, school) - before == 40
        assert await history(c, school, rows[0]) == [(None, snapshot("5", "7", "6.2", "C", "2", True), "sync", None)]
        assert await history(c, school, rows[-1]) == [(None, snapshot("9", "7", "7.8", "B", "3", True), "sync", None)]
