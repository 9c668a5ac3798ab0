"""OWASP API4:2023 Unrestricted Resource Consumption — bodies and uploads that would make a service hold far more
than they are (issue 13, item 6), sent to the services in-process on SQLite and PostgreSQL. Every refusal is a
413/422 problem naming what was refused; a body over its limit is refused once the limit is passed, the rest never
read. Peak memory of the services as processes: ``test_api4_memory_bombs_rss.py``."""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import httpx

from tests.records.helpers import code, errors_of, id_number, wait_job
from tests.support import Platform

MiB = 1024 * 1024
CHUNK = 64 * 1024
DEEP = b"[" * 100_000 + b"]" * 100_000  # 200 KB
WIDE = b"[" + b"[]," * 300_000 + b"[]]"  # 900 KB, 300,001 values


class Endless:
    """A request body of up to ``total`` bytes, made as the server asks for it: ``pulled`` says how much it read."""

    def __init__(self, total: int = 64 * MiB, head: bytes = b"") -> None:
        self.total, self.head, self.pulled = total, head, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        block = b" " * CHUNK
        if self.head:
            self.pulled += len(self.head)
            yield self.head
        while self.pulled < self.total:
            self.pulled += CHUNK
            yield block


def problem(r: httpx.Response, status: int, field: str) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert r.headers["content-type"] == "application/problem+json", r.headers
    body = r.json()
    assert body["status"] == status and body["errors"][0]["field"] == field, body
    return body


async def events_headers(platform: Platform) -> dict[str, str]:
    s = platform.settings["records"]
    return {"Authorization": f"Bearer {await platform.token(s.client_id, s.client_secret)}"}


async def test_a_streamed_body_over_the_limit_is_refused_without_reading_the_rest(platform: Platform) -> None:
    """64 MB offered without a Content-Length to public routes (verify, sign-in) and to every event receiver (by a
    sender with ``events:deliver``): each stops reading just past its limit (1 MiB; 4 MiB for events) and answers
    413 naming the body. An anonymous sender's event is not read at all."""
    sender = await events_headers(platform)
    routes = [("credentials", "/v1/verify", MiB, {}), ("identity", "/v1/auth/login", MiB, {})]
    routes += [(name, "/v1/events", 4 * MiB, sender) for name in platform.apps]
    for name, path, limit, auth in routes:
        for content_type in ("application/json", "text/plain"):
            body = Endless(head=b'{"x": "')
            async with platform.client(name) as c:
                r = await c.post(path, content=body, headers=auth | {"content-type": content_type})
            problem(r, 413, "body")
            assert body.pulled <= limit + 2 * CHUNK, (name, path, body.pulled)
    for name in platform.apps:
        body = Endless()
        async with platform.client(name) as c:
            r = await c.post("/v1/events", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 401, (name, r.text)
        assert body.pulled <= CHUNK, (name, body.pulled)


async def test_a_declared_length_over_the_limit_is_refused_before_reading(platform: Platform) -> None:
    body = Endless(total=2 * MiB)
    async with platform.client("credentials") as c:
        request = c.build_request("POST", "/v1/verify", content=body,
                                  headers={"content-type": "application/json", "content-length": str(300 * MiB)})
        r = await c.send(request)
    assert problem(r, 413, "body")["limit"] == MiB
    assert body.pulled == 0


async def test_deeply_nested_json_is_refused_before_any_parser_sees_it(platform: Platform) -> None:
    """100,000 levels in 200 KB used to end in a RecursionError (500) or a 400 that said nothing: now a 422 naming
    the body, on a route that parses JSON itself (verify), one FastAPI parses (sign-in), and an event receiver."""
    async with platform.client("credentials") as c:
        for content_type in ("application/json", "text/plain", "application/ld+json"):
            problem(await c.post("/v1/verify", content=DEEP, headers={"content-type": content_type}), 422, "body")
        problem(await c.post("/v1/events", content=DEEP, headers=await events_headers(platform)), 422, "body")
    async with platform.client("identity") as c:
        problem(await c.post("/v1/auth/login", content=DEEP, headers={"content-type": "application/json"}), 422, "body")
    async with platform.client("records") as c:
        problem(await c.post("/v1/events", content=DEEP, headers=await events_headers(platform) | {"content-type": "application/json"}), 422, "body")
    # as deep as the limit is fine: verify answers with its verdict
    ok = b"[" * 60 + b"]" * 60
    async with platform.client("credentials") as c:
        r = await c.post("/v1/verify", content=b'{"x": ' + ok + b"}", headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text


async def test_json_with_too_many_values_is_refused(platform: Platform) -> None:
    async with platform.client("credentials") as c:
        problem(await c.post("/v1/verify", content=WIDE, headers={"content-type": "application/json"}), 413, "body")
    async with platform.client("identity") as c:
        problem(await c.post("/v1/auth/login", content=WIDE, headers={"content-type": "application/json"}), 413, "body")


async def test_route_limits_are_their_own(platform: Platform) -> None:
    """A bulk route takes more than the 1 MiB default (up to its own limit), a sync upload far more."""
    school = await platform.school_headers()
    filler = {"programmes": [], "padding": "x" * (2 * MiB)}
    async with platform.client("records") as c:
        r = await c.post("/v1/institutions/CD0101/sync/json", content=json.dumps(filler).encode(), headers=school)
        assert r.status_code == 202, r.text  # stored as sent: its rows are checked by the job (unknown record type)
    async with platform.client("credentials") as c:
        r = await c.post("/v1/issue-jobs", json={"credentials": [], "padding": "x" * (2 * MiB)}, headers=school)
        assert r.status_code == 422, r.text  # past the size check; refused by validation
        r = await c.post("/v1/issue-jobs", content=Endless(head=b'{"credentials": "'), headers=school | {"content-type": "application/json"})
        assert problem(r, 413, "body")["limit"] == 32 * MiB


# -- school sync: the worker's parsers --------------------------------------------------------------------------

async def _job(c: httpx.AsyncClient, school: dict[str, str], path: str, content: bytes, content_type: str) -> dict[str, Any]:
    r = await c.post(path, content=content, headers=school | {"content-type": content_type})
    assert r.status_code == 202, r.text
    return await wait_job(c, r.json()["id"], school)


async def _failed_on(c: httpx.AsyncClient, school: dict[str, str], job: dict[str, Any], field: str, words: str) -> None:
    assert job["status"] == "failed", job
    errors = await errors_of(c, job, school)
    assert any(e["field"] == field and words in e["message"] for e in errors), errors


async def test_a_deeply_nested_json_batch_fails_its_job_naming_the_list(platform: Platform) -> None:
    """A 200 KB batch nested 100,000 deep drove records to 21.5 GB (the incremental parser keeps every level's
    path); now the job fails naming the list and the depth. (5,000 deep here: the same refusal, and an unbounded
    parser would not take the test process down.)"""
    school = await platform.school_headers()
    deep = b'{"grades": [' + b"[" * 5000 + b"]" * 5000 + b"]}"
    wide_row = json.dumps({"grades": [{f"k{i}": i for i in range(20_000)}]}).encode()
    long_value = json.dumps({"learners": [{"full_name": "x" * (2 * MiB)}]}).encode()
    async with platform.client("records") as c:
        path = "/v1/institutions/CD0101/sync/json"
        await _failed_on(c, school, await _job(c, school, path, deep, "application/json"), "grades", "nests deeper than 64 levels")
        await _failed_on(c, school, await _job(c, school, path, wide_row, "application/json"), "grades", "more than 10000 values")
        await _failed_on(c, school, await _job(c, school, path, long_value, "application/json"), "learners", "longer than")


async def test_a_csv_line_longer_than_the_limit_fails_its_job(platform: Platform) -> None:
    school = await platform.school_headers()
    line = b"id_number,programme_code,module_code,term_code,final\n" + b"1" * (2 * MiB) + b",P,M,T,5\n"
    async with platform.client("records") as c:
        job = await _job(c, school, "/v1/institutions/CD0101/sync/csv?entity=grades", line, "text/csv")
        await _failed_on(c, school, job, "file", "line 2 is longer than")


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


MANIFEST = b"propertyName,value\nmanifest.version,1.0\noneroster.version,1.2\nfile.users,bulk\n"


async def test_oneroster_members_are_bounded_and_named(platform: Platform) -> None:
    """A 1.45 MB zip with a 1.5 GB line took records to 3 GB and its error said "needs manifest.csv". Now: a member
    that expands too many times is refused before it is inflated, a line too long once the limit is read, and
    each error names the member."""
    school = await platform.school_headers()
    bomb = _zip({"manifest.csv": MANIFEST, "users.csv": b"sourcedId,roles\n" + b"a" * (40 * MiB)})
    assert len(bomb) < 100 * 1024
    long_line = _zip({"manifest.csv": MANIFEST, "users.csv": b"sourcedId,roles\n" + os.urandom(MiB).hex().encode() + b",student\n"})
    manifest_bomb = _zip({"manifest.csv": MANIFEST + b"x" * (40 * MiB)})
    async with platform.client("records") as c:
        path = "/v1/institutions/CD0101/sync/oneroster"
        await _failed_on(c, school, await _job(c, school, path, bomb, "application/zip"), "users.csv", "zip bomb")
        await _failed_on(c, school, await _job(c, school, path, long_line, "application/zip"), "users.csv", "line 2 is longer than")
        await _failed_on(c, school, await _job(c, school, path, manifest_bomb, "application/zip"), "manifest.csv", "zip bomb")


async def test_the_sync_limits_leave_real_batches_alone(platform: Platform) -> None:
    """Sanity: a batch within every limit still succeeds (a grade's components are nested three levels in)."""
    from tests.records.helpers import grade, learner, run_ok, world

    school = await platform.school_headers()
    p, t, k = code("SEC"), code("HK"), code("K")
    n = id_number()
    async with platform.client("records") as c:
        job = await run_ok(c, school, world(p, t, k, [learner(n, "Phạm Văn An", p, k)], [grade(n, p, "M1", t, "7", "8")]))
    assert job["rejected"] == 0
