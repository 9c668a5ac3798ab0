"""Learner records' "done means", as in the ``make run`` demo, every request through the gateway and with the demo
files a school would use (``demo/records/``): the demo school's system (``demo-school-sis``, CD0101) gets a token,
uploads the OneRoster 1.2 zip and follows the job to its end, uploads the CSV of grades in accept-valid-rows mode
and reads the errors of its bad rows (row, field, message); the demo learner signs in through the VNeID stand-in
(``minh``) and reads his transcript (JSON, checked against hand-computed scores and GPA, and PDF with his
Vietnamese name); the ministry's demo officer reads a statistic that matches hand-computed numbers.

The demo programme is what ``python -m services seed`` loads for ``make run`` (:mod:`services.records.seed`); it
is loaded here the same way. The gateway runs in this process; identity and records are served over real sockets
(see ``test_library_demo.py``)."""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from services.records.seed import DEMO_PROGRAMME, seed
from tests.e2e.gateway import gateway_for, on_gateway, sign_in
from tests.support import Platform

DEMO = Path(__file__).resolve().parents[2] / "demo" / "records"
SCHOOL = ("demo-school-sis", "dev-only-demo-school-secret")
MINISTRY = ("ministry.demo", "dev-only-Ministry#2026")
PROGRAMME = DEMO_PROGRAMME["code"]


async def watch(gw: httpx.AsyncClient, job: dict[str, Any], headers: dict[str, str], timeout: float = 60.0) -> tuple[dict[str, Any], list[dict[str, Any]]]:  # noqa: ASYNC109 - polls to a deadline, failing with what it saw (a caller's asyncio.timeout would not say)
    """Polls the job as the school would (``Location``), until it ends: (last state, every state seen)."""
    seen = [job]
    deadline = asyncio.get_running_loop().time() + timeout
    while job["status"] in ("queued", "running"):
        assert asyncio.get_running_loop().time() < deadline, job
        await asyncio.sleep(0.05)
        r = await gw.get(f"/api/records/v1/sync-jobs/{job['id']}", headers=headers)
        assert r.status_code == 200, r.text
        job = r.json()
        seen.append(job)
    return job, seen


async def citizen_sign_in(platform: Platform, gw: httpx.AsyncClient, alias: str) -> dict[str, str]:
    """VNeID stand-in: our login → the provider (a browser follows its redirect) → our callback, via the gateway,
    which sends the browser to the front end with a one-time code; the front end exchanges it (the same browser:
    the gateway client keeps the sign-in cookie)."""
    r = await gw.get("/api/identity/v1/auth/vneid/login", params={"login_hint": alias})
    assert r.status_code == 302, r.text
    async with httpx.AsyncClient(transport=platform.transport) as browser:
        consent = await browser.get(r.headers["location"])
    assert consent.status_code == 302, consent.text
    callback = urlsplit(consent.headers["location"])
    r = await gw.get(f"/api/identity{callback.path}?{callback.query}")
    assert r.status_code == 302, r.text
    code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
    r = await gw.post("/api/identity/v1/auth/vneid/token", json={"code": code})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_shipped_zip_is_built_from_the_shipped_csv_files() -> None:
    """``demo/records/cd0101-oneroster.zip`` is ``python -m zipfile -c … oneroster/*.csv``: the same files."""
    with zipfile.ZipFile(DEMO / "cd0101-oneroster.zip") as z:
        shipped = {name: z.read(name) for name in z.namelist()}
    sources = {p.name: p.read_bytes() for p in (DEMO / "oneroster").glob("*.csv")}
    assert shipped == sources


async def test_school_uploads_learner_and_officer_read(platform: Platform) -> None:
    await seed(platform.settings["records"])  # as `python -m services seed` does for `make run`
    async with gateway_for(platform, "records") as gw:
        # the school's system: client credentials
        r = await gw.post("/api/identity/oauth/token", data={"grant_type": "client_credentials"}, auth=SCHOOL)
        assert r.status_code == 200, r.text
        assert "records:sync" in r.json()["scope"].split()
        school = {"Authorization": f"Bearer {r.json()['access_token']}"}

        # 1. the OneRoster 1.2 zip: terms, modules, learners, enrolments and the results of two modules
        r = await gw.post("/api/records/v1/institutions/CD0101/sync/oneroster", content=(DEMO / "cd0101-oneroster.zip").read_bytes(),
                          headers=school | {"Content-Type": "application/zip", "Idempotency-Key": "demo-oneroster-hk1-2025"})
        assert r.status_code == 202, r.text
        assert on_gateway(r.headers["location"]) == f"/api/records/v1/sync-jobs/{r.json()['id']}"
        job, seen = await watch(gw, r.json(), school)
        assert job["status"] == "succeeded" and job["processing"] == "bulk", job
        # 1 term, 4 modules (already in the programme: unchanged), 5 learners, 20 enrolment rows, 10 grades
        assert (job["rows_total"], job["rows_read"], job["accepted"], job["rejected"]) == (40, 40, 40, 0), job
        assert all(s["rows_read"] <= (s["rows_total"] or 40) for s in seen)

        # 2. the grades CSV of the two other modules, three rows of it broken: the good rows go in
        r = await gw.post("/api/records/v1/institutions/CD0101/sync/csv", params={"entity": "grades", "mode": "accept_valid"},
                          content=(DEMO / "grades-hk1-2025.csv").read_bytes(), headers=school | {"Content-Type": "text/csv"})
        assert r.status_code == 202, r.text
        job, _ = await watch(gw, r.json(), school)
        assert job["status"] == "completed_with_errors", job
        assert (job["rows_total"], job["rows_read"], job["accepted"], job["rejected"]) == (12, 12, 9, 3), job
        r = await gw.get(on_gateway(job["errors_url"]), headers=school)
        assert r.status_code == 200, r.text
        errors = [(e["row"], e["field"], e["message"]) for e in r.json()["items"]]
        assert [(row, field) for row, field, _ in errors] == [(6, "components.final"), (12, "module_code"), (13, "id_number")], errors
        assert errors[0][2] == "a score is between 0 and 10", errors
        assert errors[1][2] == f"module 'OTO104' is not in programme {PROGRAMME}", errors
        assert errors[2][2] == "a personal ID number has 12 digits; this one has 11 digits", errors  # never the number itself

        # 3. the learner signs in with VNeID (stand-in citizen "minh", person 001203012345) and reads his transcript
        minh = await citizen_sign_in(platform, gw, "minh")
        r = await gw.get("/api/records/v1/me/records", headers=minh)
        assert r.status_code == 200, r.text
        enrolment = next(e for x in r.json() if x["institution_code"] == "CD0101" for e in x["enrolments"] if e["programme_code"] == PROGRAMME)
        r = await gw.get(on_gateway(enrolment["transcript_url"]), headers=minh)
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["learner"]["full_name"] == "Trần Văn Minh" and doc["learner"]["id_number"] == "001203012345"
        # score = 0.4 × continuous + 0.6 × final, one decimal (half up); letter and 4-point value by the default policy
        assert [(m["module_code"], m["score"], m["letter"], m["points"], m["passed"]) for m in doc["results"]] == [
            ("GDTC", "6.4", "C", "2", True),    # 0.4×7 + 0.6×6 = 6.4 (condition module: out of the GPA)
            ("OTO101", "8.6", "A", "4", True),  # 0.4×8 + 0.6×9 = 8.6 (OneRoster zip)
            ("OTO102", "6.9", "C", "2", True),  # 0.4×7.5 + 0.6×6.5 = 6.9 (grades CSV)
            ("OTO103", "7.3", "B", "3", True),  # 0.4×7 + 0.6×7.5 = 7.3 (grades CSV)
        ]
        assert doc["gpa"] == "3.10"  # (4×4 + 2×3 + 3×3) / (4 + 3 + 3) = 31 / 10
        assert doc["credits_earned"] == 12  # 4 + 3 + 3 + 2 (condition modules count for graduation)
        assert doc["graduation"] == {"eligible": True, "classification": "gioi", "classification_label": "Giỏi", "reasons": []}
        r = await gw.get(on_gateway(enrolment["transcript_url"]) + ".pdf", headers=minh)
        assert r.status_code == 200 and r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF"), r.text[:200]
        from pypdf import PdfReader

        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(r.content)).pages)
        assert "Trần Văn Minh" in text and "Công nghệ ô tô" in text and "Giỏi" in text and "3.10" in text

        # 4. the ministry's officer: learners of the demo programme's occupation at CD0101, by sex, for 2025
        officer = await sign_in(gw, *MINISTRY)
        r = await gw.get("/api/records/v1/statistics", params={"by": "occupation,sex", "year": 2025, "institution": "CD0101"},
                         headers=officer)
        assert r.status_code == 200, r.text
        mine = [i for i in r.json()["items"] if i["occupation"] == DEMO_PROGRAMME["occupation_code"]]
        # Hùng, Minh, Quang; Lan, Nhung: all enrolled on 2025-09-05, none graduated
        assert mine == [
            {"occupation": "6510216", "sex": "female", "learners": 2, "enrolled": 2, "suspended": 0, "withdrawn": 0, "graduated": 0,
             "new_enrolments": 2, "graduates": 0},
            {"occupation": "6510216", "sex": "male", "learners": 3, "enrolled": 3, "suspended": 0, "withdrawn": 0, "graduated": 0,
             "new_enrolments": 3, "graduates": 0},
        ], r.json()
        r = await gw.get("/api/records/v1/statistics", params={"by": "occupation,sex", "year": 2025, "institution": "CD0101", "format": "csv"},
                         headers=officer)
        assert r.status_code == 200 and "6510216,male,3,3,0,0,0,3,0" in r.text.splitlines(), r.text

        # the same uploads again change nothing (natural keys): same errors, no duplicates
        r = await gw.post("/api/records/v1/institutions/CD0101/sync/oneroster", content=(DEMO / "cd0101-oneroster.zip").read_bytes(),
                          headers=school | {"Content-Type": "application/zip"})
        job, _ = await watch(gw, r.json(), school)
        assert job["status"] == "succeeded" and job["created"] == job["updated"] == 0, job
        r = await gw.get("/api/records/v1/statistics", params={"by": "occupation,sex", "year": 2025, "institution": "CD0101"}, headers=officer)
        assert [i for i in r.json()["items"] if i["occupation"] == "6510216"] == mine
