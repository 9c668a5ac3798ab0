"""Shared helpers for the records tests: unique codes and ID numbers, sign-in, waiting for sync jobs."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from tests.support import Platform, id_number

__all__ = ["code", "errors_of", "grade", "id_number", "learner", "login", "programme", "run_json", "run_ok", "wait_job", "world"]


def code(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10].upper()}"


async def login(platform: Platform, username: str, password: str) -> dict[str, str]:
    async with platform.client("identity") as c:
        r = await c.post("/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def wait_job(c: httpx.AsyncClient, job_id: str, headers: dict[str, str], timeout: float = 60.0) -> dict[str, Any]:  # noqa: ASYNC109 - polls to a deadline, failing with what it saw (a caller's asyncio.timeout would not say)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        r = await c.get(f"/v1/sync-jobs/{job_id}", headers=headers)
        assert r.status_code == 200, r.text
        job = r.json()
        if job["status"] in ("succeeded", "completed_with_errors", "failed"):
            return job
        assert asyncio.get_running_loop().time() < deadline, job
        await asyncio.sleep(0.05)


async def run_json(c: httpx.AsyncClient, headers: dict[str, str], batch: dict[str, Any], mode: str = "all_or_nothing",
                   institution: str = "CD0101", extra: dict[str, str] | None = None) -> dict[str, Any]:
    r = await c.post(f"/v1/institutions/{institution}/sync/json", params={"mode": mode}, json=batch, headers=headers | (extra or {}))
    assert r.status_code == 202, r.text
    return await wait_job(c, r.json()["id"], headers)


async def run_ok(c: httpx.AsyncClient, headers: dict[str, str], batch: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """:func:`run_json` for a batch that must apply cleanly; if it does not, the failure shows the job's row errors."""
    job = await run_json(c, headers, batch, **kw)
    assert job["status"] == "succeeded", (job, await errors_of(c, job, headers))
    return job


async def errors_of(c: httpx.AsyncClient, job: dict[str, Any], headers: dict[str, str]) -> list[dict[str, Any]]:
    r = await c.get(f"/v1/sync-jobs/{job['id']}/errors", params={"limit": 500}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def programme(pcode: str, *, level: str = "college", occupation: str = "6480201") -> dict[str, Any]:
    return {
        "code": pcode, "name": "Công nghệ thông tin", "level": level, "occupation_code": occupation, "year": 2024,
        "modules": [
            {"code": "M1", "name": "Lập trình cơ bản", "credits": 3},
            {"code": "M2", "name": "Cơ sở dữ liệu", "credits": 2},
            {"code": "GDQP", "name": "Giáo dục quốc phòng và an ninh", "credits": 2, "is_condition": True},
        ],
    }


def world(pcode: str, term: str, cohort: str, learners: list[dict[str, Any]], grades: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "programmes": [programme(pcode)],
        "terms": [{"code": term, "name": "Học kỳ 1 năm 2024-2025", "start_date": "2024-09-01", "end_date": "2025-01-15"}],
        "cohorts": [{"code": cohort, "name": "Lớp CNTT K1", "programme_code": pcode, "start_year": 2024}],
        "learners": learners,
        "grades": grades,
    }


def learner(number: str, name: str, pcode: str, cohort: str, **kw: Any) -> dict[str, Any]:
    return {"id_number": number, "full_name": name, "programme_code": pcode, "cohort_code": cohort,
            "enrolled_on": "2024-09-05", **kw}


def grade(number: str, pcode: str, module: str, term: str, continuous: str, final: str) -> dict[str, Any]:
    return {"id_number": number, "programme_code": pcode, "module_code": module, "term_code": term,
            "components": {"continuous": continuous, "final": final}}
