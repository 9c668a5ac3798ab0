"""Diplomas demo, against a running `make run`:

    .venv/bin/python demo/diplomas.py [http://127.0.0.1:8000]

The demo school's system (demo-school-sis, CD0101) issues diplomas for a graduating cohort in one call (a job, with
progress); an employer's system (demo-employer) verifies one by API (single and bulk) and opens its QR page; the
school revokes it, and the next verification says revoked. Each run issues a new cohort (its own decision number)."""

from __future__ import annotations

import time
import uuid

from _client import check, client_token, expect, gateway, path_of, step

COHORT = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Hoàng Cường", "Phạm Thu Dung", "Võ Minh Đức", "Đặng Thị Hồng Nhung"]


def main() -> None:
    with gateway() as c:
        school = client_token(c, "demo-school-sis", "dev-only-demo-school-secret")
        employer = client_token(c, "demo-employer", "dev-only-demo-employer-secret")
        run = uuid.uuid4().hex[:6].upper()
        cohort = [{
            "institution_code": "CD0101", "kind": "diploma", "level": "college", "learner_id": f"SV{run}{i:03d}",
            "holder": {"full_name": name, "date_of_birth": f"2004-05-{i + 10}", "gender": "male" if i % 2 == 0 else "female"},
            "achievement": {"code": "6480201", "name": "Công nghệ thông tin (ứng dụng phần mềm)", "occupation_code": "6480201",
                            "credits": 90},
            "graduation": {"year": 2026, "decision_number": f"{run}/QĐ-CĐKTCN", "decision_date": "2026-07-15",
                           "mode": "full_time", "gpa": "3.12", "classification": "good"},
            "issue_place": "Hà Nội", "issue_date": "2026-07-20", "signer": {"name": "Nguyễn Văn Hiệu", "title": "Hiệu trưởng"},
        } for i, name in enumerate(COHORT)]
        body = {"institution_code": "CD0101", "credentials": cohort}
        key = {"Idempotency-Key": f"demo-cohort-{run}"}
        job = expect(c.post("/api/credentials/v1/issue-jobs", json=body, headers=school | key), 201, 202).json()
        step(f"school CD0101 sends its cohort of {len(cohort)} in one call: job {job['id']} ({job['state']})")
        again = expect(c.post("/api/credentials/v1/issue-jobs", json=body, headers=school | key), 200, 201, 202).json()
        check(again["id"] == job["id"], "a retry with the same Idempotency-Key returns the same job")
        for _ in range(240):
            job = expect(c.get(f"/api/credentials/v1/issue-jobs/{job['id']}", headers=school)).json()
            if job["state"] not in ("queued", "running"):
                break
            time.sleep(0.5)
        step(f"job {job['state']}: {job['issued']} issued, {job['existing']} already issued, {job['failed']} failed")
        check(job["state"] == "completed" and job["issued"] == len(cohort), "the whole cohort is issued")
        items = expect(c.get(f"/api/credentials/v1/issue-jobs/{job['id']}/items", headers=school)).json()
        first = (items["items"] if isinstance(items, dict) else items)[0]["credential_id"]
        diploma = expect(c.get(f"/api/credentials/v1/credentials/{first}", headers=school)).json()
        step(f"diploma of {diploma['holder_name']}: serial {diploma['serial_number']}, register {diploma['register_number']}, "
             f"QR code → {diploma['verify_url']}")

        result = expect(c.post("/api/credentials/v1/verify", json=diploma["document"], headers=employer)).json()
        step(f"employer POST /verify with the diploma JSON: {result['outcome']}")
        check(result["verified"], "the diploma verifies")
        bulk = expect(c.post("/api/credentials/v1/verify/bulk", json={"credentials": [diploma["document"]]}, headers=employer)).json()
        step(f"employer bulk verification: {[r['outcome'] for r in bulk['results']]}")
        page = expect(c.get(path_of(diploma["verify_url"]), headers={"Accept": "text/html"}))
        check(page.headers["content-type"].startswith("text/html") and diploma["holder_name"] in page.text, "the QR page shows the diploma")
        step(f"QR page {path_of(diploma['verify_url'])}: HTML naming {diploma['holder_name']}")

        # a forger keeps the genuine signature: the real subject moved under its full IRI (where JSON-LD still finds
        # it), a made-up one with an id JSON-LD cannot use (so it would be dropped, unsigned) where readers look
        forged = dict(diploma["document"])
        forged["https://www.w3.org/2018/credentials#credentialSubject"] = forged["credentialSubject"]
        forged["credentialSubject"] = {"id": "urn:forged subject", "type": ["AchievementSubject"], "name": "Kẻ Mạo Danh", "gpa": "4.00"}
        result = expect(c.post("/api/credentials/v1/verify", json=forged, headers=employer)).json()
        problem = next(x["problem"] for x in result["checks"] if x["check"] == "structure")
        step(f"employer verifies a forged copy: {result['outcome']} at {problem['path']}")
        check(result["outcome"] == "malformed" and "credentialSubject" in problem["path"], "the forged copy is refused, naming the property")

        expect(c.post(f"/api/credentials/v1/credentials/{first}/revoke", json={"reason": "Cấp sai thông tin"}, headers=school))
        step("school revokes it (reason: Cấp sai thông tin)")
        result = expect(c.post("/api/credentials/v1/verify", json=diploma["document"], headers=employer)).json()
        failed = [(x["check"], x["problem"]["title"]) for x in result["checks"] if not x["passed"]]
        step(f"employer verifies again: {result['outcome']} {failed}")
        check(result["outcome"] == "revoked" and not result["verified"], "the next verification says revoked")
        by_id = expect(c.get(f"/api/credentials/v1/verify/{first}")).json()
        check(by_id["outcome"] == "revoked", "GET /verify/{id} says revoked")
        page = expect(c.get(path_of(diploma["verify_url"]), headers={"Accept": "text/html"}))
        check("thu hồi" in page.text.lower(), "the QR page says revoked (đã thu hồi)")
        step("GET /verify/{id} and the QR page: revoked")
    print("diplomas demo: OK")


if __name__ == "__main__":
    main()
