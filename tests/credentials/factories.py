"""Test data for credentials: issuing requests with Vietnamese text, unique learners per test."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from tests.support import Platform


def id_number_for(date_of_birth: str | None, gender: str | None) -> str:
    """A personal ID number (Hà Nội) that agrees with the holder's birth year and gender, as identity requires."""
    year = int(date_of_birth[:4]) if date_of_birth else 2003
    return f"001{(year // 100 - 19) * 2 + (gender == 'female')}{year % 100:02d}012345"


def diploma(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "institution_code": "CD0101",
        "kind": "diploma",
        "level": "college",
        "person_id": str(uuid.uuid4()),
        "learner_id": f"SV{uuid.uuid4().hex[:8].upper()}",
        "holder": {"full_name": "Trần Văn Minh", "date_of_birth": "2003-05-14", "gender": "male",
                   "birth_place": "Hà Nội", "id_number": "001203012345"},
        "achievement": {"code": "6480201", "name": "Công nghệ thông tin (ứng dụng phần mềm)", "occupation_code": "6480201",
                        "occupation_name": "Công nghệ thông tin (ứng dụng phần mềm)", "credits": 90},
        "graduation": {"year": 2026, "decision_number": "123/QĐ-CĐKTCN", "decision_date": "2026-06-30", "mode": "full_time",
                       "gpa": "3.12", "classification": "very_good"},
        "issue_place": "Hà Nội",
        "signer": {"name": "Nguyễn Văn Hùng", "title": "Hiệu trưởng"},
    }
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = body[key] | value
        else:
            body[key] = value
    holder = body["holder"]
    if not (isinstance(over.get("holder"), dict) and "id_number" in over["holder"]) and isinstance(holder, dict):
        holder["id_number"] = id_number_for(holder.get("date_of_birth"), holder.get("gender"))
    return body


async def issue(platform: Platform, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    async with platform.client("credentials") as c:
        r = await c.post("/v1/credentials", json=body or diploma(), headers=headers or await platform.school_headers())
    assert r.status_code in (200, 201), r.text
    return r.json()


async def verify(platform: Platform, document: Any) -> dict[str, Any]:
    async with platform.client("credentials") as c:
        r = await c.post("/v1/verify", json=document)
    assert r.status_code == 200, r.text
    return r.json()


def check(result: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in result["checks"] if c["check"] == name)


async def wait_for_job(client: httpx.AsyncClient, job_id: str, headers: dict[str, str], timeout: float = 120.0) -> dict[str, Any]:  # noqa: ASYNC109 - polls to a deadline, failing with what it saw (a caller's asyncio.timeout would not say)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        r = await client.get(f"/v1/issue-jobs/{job_id}", headers=headers)
        assert r.status_code == 200, r.text
        job = r.json()
        if job["state"] in ("completed", "failed"):
            return job
        assert asyncio.get_running_loop().time() < deadline, f"job still {job['state']}: {job}"
        await asyncio.sleep(0.1)


async def wait_for_event_jobs(client: httpx.AsyncClient, headers: dict[str, str], institution: str, event_ids: list[str],
                              timeout: float = 60.0) -> list[dict[str, Any]]:  # noqa: ASYNC109 - polls to a deadline, failing with what it saw (a caller's asyncio.timeout would not say)
    """The issue jobs made from these CloudEvents (one per event the receiver accepted), once every one has ended."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        jobs = [j for e in event_ids for j in (await client.get(
            "/v1/issue-jobs", params={"institution": institution, "source": "event", "source_event_id": e},
            headers=headers)).json()["items"]]
        if len(jobs) == len(event_ids) and all(j["state"] not in ("queued", "running") for j in jobs):
            return jobs
        assert asyncio.get_running_loop().time() < deadline, jobs
        await asyncio.sleep(0.05)
