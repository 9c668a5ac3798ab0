"""Learner records demo, against a running `make run`:

    .venv/bin/python demo/records.py [http://127.0.0.1:8000]

The demo school's system (demo-school-sis, CD0101) uploads its OneRoster 1.2 zip (demo/records/cd0101-oneroster.zip:
term, modules, five learners, enrolments, results of two modules) and follows the job; then its CSV of the other
two modules' grades (demo/records/grades-hk1-2025.csv) in accept-valid-rows mode, and reads the errors of its three
bad rows. The learner Trần Văn Minh signs in with VNeID (the development stand-in, citizen "minh") and reads his
transcript (JSON and PDF); ministry.demo reads the statistic of the programme's occupation at CD0101. The scores,
GPA and counts are checked against hand-computed values. The programme (OTO-CD-2025) is demo data that
`python -m services seed` loads (services/records/seed.py). Safe to run again: rows match by natural key."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from _client import check, client_token, expect, gateway, path_of, sign_in, step

FILES = Path(__file__).resolve().parent / "records"
PROGRAMME = "OTO-CD-2025"


def watch(c: httpx.Client, job: dict[str, Any], school: dict[str, str]) -> dict[str, Any]:
    last = None
    for _ in range(600):
        progress = (job["status"], job["rows_read"], job["rows_total"])
        if progress != last:
            step(f"  job {job['id'][:8]}…: {job['status']}, {job['rows_read']}/{job['rows_total'] or '?'} rows read, "
                 f"{job['accepted']} accepted, {job['rejected']} rejected")
            last = progress
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.2)
        job = expect(c.get(f"/api/records/v1/sync-jobs/{job['id']}", headers=school)).json()
    check(False, "the job finishes within two minutes")
    return job


def vneid_sign_in(c: httpx.Client, alias: str) -> dict[str, str]:
    """What a browser and the front end do: our login (which sets the sign-in cookie) → the provider (the
    development stand-in signs the citizen in at once) → our callback, which sends the browser back to the front
    end with a one-time code (never the tokens) → the front end exchanges the code, from the same browser (the
    cookie), for the tokens."""
    r = expect(c.get("/api/identity/v1/auth/vneid/login", params={"login_hint": alias}), 302)
    for _ in range(5):
        location = r.headers["location"]
        if set(parse_qs(urlsplit(location).query)) == {"code"}:  # back at the front end's route
            break
        r = expect(c.get(location), 302)
    else:
        check(False, "the sign-in comes back to the front end with a one-time code")
    code = parse_qs(urlsplit(location).query)["code"][0]
    r = expect(c.post("/api/identity/v1/auth/vneid/token", json={"code": code}))
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def main() -> None:
    with gateway() as c:
        school = client_token(c, "demo-school-sis", "dev-only-demo-school-secret")
        r = c.get(f"/api/records/v1/institutions/CD0101/programmes/{PROGRAMME}", headers=school)
        check(r.status_code == 200, f"programme {PROGRAMME} is loaded at CD0101 (demo data: `python -m services seed`)")
        step(f"school CD0101 has programme {PROGRAMME} ({r.json()['name']}, {len(r.json()['modules'])} modules)")

        zipped = (FILES / "cd0101-oneroster.zip").read_bytes()
        job = expect(c.post("/api/records/v1/institutions/CD0101/sync/oneroster", content=zipped,
                            headers=school | {"Content-Type": "application/zip"}), 202).json()
        step(f"school uploads its OneRoster 1.2 zip ({len(zipped)} bytes): job {job['id']}")
        job = watch(c, job, school)
        check(job["status"] == "succeeded" and job["rejected"] == 0, "the OneRoster import succeeds")

        grades = (FILES / "grades-hk1-2025.csv").read_bytes()
        job = expect(c.post("/api/records/v1/institutions/CD0101/sync/csv", params={"entity": "grades", "mode": "accept_valid"},
                            content=grades, headers=school | {"Content-Type": "text/csv"}), 202).json()
        step(f"school uploads its grades CSV (accept_valid): job {job['id']}")
        job = watch(c, job, school)
        check(job["status"] == "completed_with_errors" and (job["accepted"], job["rejected"]) == (9, 3), "9 rows applied, 3 rejected")
        errors = expect(c.get(path_of(job["errors_url"]), headers=school)).json()["items"]
        for e in errors:
            step(f"  row {e['row']}, {e['field']}: {e['message']}")
        check([(e["row"], e["field"]) for e in errors] == [(6, "components.final"), (12, "module_code"), (13, "id_number")],
              "the errors name the bad rows: score out of range, unknown module, invalid ID number")

        minh = vneid_sign_in(c, "minh")
        records = expect(c.get("/api/records/v1/me/records", headers=minh)).json()
        enrolment = next(e for x in records if x["institution_code"] == "CD0101" for e in x["enrolments"] if e["programme_code"] == PROGRAMME)
        doc = expect(c.get(path_of(enrolment["transcript_url"]), headers=minh)).json()
        step(f"{doc['learner']['full_name']} signs in with VNeID and reads his transcript:")
        for m in doc["results"]:
            step(f"  {m['module_code']:7} {m['module_name']:24} {m['credits']} TC  {m['score']:>4} {m['letter']} {m['points']}"
                 + ("  (điều kiện)" if m["is_condition"] else ""))
        step(f"  GPA {doc['gpa']}, {doc['credits_earned']} credits, {doc['graduation']['classification_label']}")
        check([(m["module_code"], m["score"], m["points"]) for m in doc["results"]]
              == [("GDTC", "6.4", "2"), ("OTO101", "8.6", "4"), ("OTO102", "6.9", "2"), ("OTO103", "7.3", "3")],
              "module scores: 0.4 × continuous + 0.6 × final, one decimal")
        check(doc["gpa"] == "3.10" and doc["credits_earned"] == 12, "GPA (4×4 + 2×3 + 3×3) / 10 = 3.10, condition module outside it")
        pdf = expect(c.get(path_of(enrolment["transcript_url"]) + ".pdf", headers=minh))
        check(pdf.content.startswith(b"%PDF"), "the transcript PDF is a PDF")
        try:
            from pypdf import PdfReader

            text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
            check("Trần Văn Minh" in text, "the PDF shows the Vietnamese name")
            step(f"  transcript PDF: {len(pdf.content)} bytes, shows “Trần Văn Minh”")
        except ImportError:
            step(f"  transcript PDF: {len(pdf.content)} bytes")

        officer = sign_in(c, "ministry.demo", "dev-only-Ministry#2026")
        stats = expect(c.get("/api/records/v1/statistics", params={"by": "occupation,sex", "year": 2025, "institution": "CD0101"},
                             headers=officer)).json()
        mine = [i for i in stats["items"] if i["occupation"] == "6510216"]
        for i in mine:
            step(f"ministry.demo: occupation {i['occupation']}, {i['sex']}: {i['learners']} learners, {i['enrolled']} enrolled, "
                 f"{i['new_enrolments']} new in 2025, {i['graduates']} graduates")
        check([(i["sex"], i["learners"], i["new_enrolments"]) for i in mine] == [("female", 2, 2), ("male", 3, 3)],
              "2 women and 3 men enrolled in 2025 in the demo programme's occupation")
    print("records demo: OK")


if __name__ == "__main__":
    main()
