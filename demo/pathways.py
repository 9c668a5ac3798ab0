"""Learner pathways demo (admissions), against a running `make run`:

    .venv/bin/python demo/pathways.py [http://127.0.0.1:8000]

The education department's system (demo-sgddt-048, scope admissions:share) pushes the graduating cohort 2022 of a
secondary school in TP Hồ Chí Minh — three graduates and one bad row, which is named by its row and field (mode
partial keeps the good rows). Lê Thị Hồng Nhung signs in with VNeID (the development stand-in, citizen "nhung"),
sees what her school shared and who received it, lets CD0101 see her data for counselling and withdraws it again
(CD0101's system sees her, then does not). She applies to the college intake TS2027-CKOTO of CD7902 (demo data:
`python -m services seed`); CD7902's system reviews and offers, she accepts, the system enrols her — and her own
records show the enrolment, nothing retyped. ministry.demo reads the streaming report of the district and the
intake against capacity. Safe to run again: the push upserts, the application carries on from where it stands."""

from __future__ import annotations

from _client import check, client_token, expect, gateway, sign_in, step
from records import vneid_sign_in

INSTITUTION, INTAKE, PROGRAMME = "CD7902", "TS2027-CKOTO", "CKOTO-CD-2027"
NHUNG = "079304056789"
SCHOOL = {"code": "THPT-79-BTX", "name": "Trường THPT Bùi Thị Xuân", "province_code": "079", "district": "Phường Bến Thành"}
COHORT = [
    {"id_number": NHUNG, "full_name": "Lê Thị Hồng Nhung", "date_of_birth": "2004-09-02", "sex": "female",
     "results": {"toan": "7.4", "ngu_van": "7.75", "tieng_anh": "8.2", "vat_ly": "6.8"}},
    {"id_number": "079204011235", "full_name": "Đặng Quốc Huy", "date_of_birth": "2004-01-15", "sex": "male",
     "results": {"toan": "6.2", "ngu_van": "5.5", "tieng_anh": "4.8"}},
    {"id_number": "079304022468", "full_name": "Huỳnh Ngọc Trâm", "date_of_birth": "2004-11-30", "sex": "female",
     "results": {"toan": "8.8", "ngu_van": "8", "tieng_anh": "9.1"}},
    {"id_number": "0793040", "full_name": "Dòng sai số định danh", "date_of_birth": "2004-05-05", "sex": "female", "results": {"toan": "5"}},
]


def main() -> None:
    with gateway() as c:
        sharer = client_token(c, "demo-sgddt-048", "dev-only-demo-sgddt-secret")
        r = expect(c.post("/api/records/v1/admissions/cohorts", params={"mode": "partial"}, headers=sharer,
                          json={"school": SCHOOL, "graduation_year": 2022, "graduates": COHORT})).json()
        step(f"the education department pushes {SCHOOL['name']}'s cohort 2022: {r['created']} new, {r['updated']} changed, "
             f"{r['unchanged']} unchanged, {len(r['rejected'])} rejected")
        for e in r["rejected"]:
            step(f"  row {e['row']}, {e['field']}: {e['message']}")
        check(r["created"] + r["updated"] + r["unchanged"] == 3 and [(e["row"], e["field"]) for e in r["rejected"]] == [(4, "id_number")],
              "three graduates stored, row 4 refused for its ID number")

        nhung = vneid_sign_in(c, "nhung")
        mine = expect(c.get("/api/records/v1/admissions/me", headers=nhung)).json()
        record = next(g for g in mine["graduate_records"] if g["school_code"] == SCHOOL["code"])
        step(f"Lê Thị Hồng Nhung signs in with VNeID and sees what {record['school_name']} shared: {record['results']}")

        school_cd0101 = client_token(c, "demo-school-sis", "dev-only-demo-school-secret")
        expect(c.post("/api/records/v1/admissions/me/consents", headers=nhung, json={"institution_code": "CD0101"}), 201)
        seen = expect(c.get("/api/records/v1/institutions/CD0101/counselling", headers=school_cd0101)).json()
        check(any(g["full_name"] == "Lê Thị Hồng Nhung" for g in seen), "CD0101 sees her after she agreed to its counselling")
        expect(c.delete("/api/records/v1/admissions/me/consents/CD0101", headers=nhung))
        seen = expect(c.get("/api/records/v1/institutions/CD0101/counselling", headers=school_cd0101)).json()
        check(all(g["full_name"] != "Lê Thị Hồng Nhung" for g in seen), "withdrawn, CD0101 no longer sees her")
        step("she lets CD0101 see her data for counselling (its system sees her), then withdraws it (it no longer does)")

        intakes = expect(c.get("/api/records/v1/intakes", params={"institution": INSTITUTION, "year": 2027})).json()
        intake = next((i for i in intakes if i["code"] == INTAKE), None)
        check(intake is not None, f"intake {INSTITUTION}/{INTAKE} is loaded (demo data: `python -m services seed`)")
        assert intake is not None
        step(f"intake {intake['name']}: {intake['capacity']} places, {intake['opens_on']} – {intake['closes_on']}, criteria {intake['criteria']}")
        application = next((a for a in mine["applications"] if a["intake_id"] == intake["id"]), None)
        if application is None:
            application = expect(c.post(f"/api/records/v1/intakes/{intake['id']}/applications", headers=nhung, json={}), 201).json()
            step(f"she applies online: application {application['id'][:8]}… {application['status']}")
        else:
            step(f"her application {application['id'][:8]}… is {application['status']} (an earlier run)")

        college = client_token(c, "demo-sis-cd7902", "dev-only-demo-sis-cd7902-secret")
        listed = expect(c.get(f"/api/records/v1/institutions/{INSTITUTION}/applications", headers=college)).json()
        check(any(a["id"] == application["id"] and a["graduate"] for a in listed), f"{INSTITUTION} sees her application with her results")
        steps = {"submitted": ("review", college), "reviewed": ("offer", college), "offered": ("accept", nhung), "accepted": ("enrol", college)}
        while application["status"] in steps:
            action, who = steps[application["status"]]
            body = {"enrolled_on": "2027-09-05"} if action == "enrol" else {}
            application = expect(c.post(f"/api/records/v1/applications/{application['id']}/{action}", headers=who, json=body)).json()
            step(f"  {'she' if who is nhung else INSTITUTION} — {action}: {application['status']}")
        check(application["status"] == "enrolled" and application["learner_id"], "the application ends enrolled, with a learner record")

        records = expect(c.get("/api/records/v1/me/records", headers=nhung)).json()
        enrolments = [e for x in records if x["institution_code"] == INSTITUTION for e in x["enrolments"]]
        check(any(e["programme_code"] == PROGRAMME for e in enrolments), "her own records show the enrolment")
        step(f"her records at {INSTITUTION}: enrolled in {PROGRAMME}, nothing retyped")

        officer = sign_in(c, "ministry.demo", "dev-only-Ministry#2026")
        streaming = expect(c.get("/api/records/v1/admissions/reports/streaming", params={"year": 2022, "province": "079"},
                                 headers=officer)).json()
        district = next(x for x in streaming["items"] if x["district"] == SCHOOL["district"])
        step(f"ministry.demo — streaming, {district['district']} 2022: {district['enrolled_vet']} of {district['graduates']} graduates "
             f"in VET ({district['rate']:.0%}, target {district['target']:.0%})")
        check(district["graduates"] == 3 and district["enrolled_vet"] >= 1, "the district's three graduates, at least one in VET")
        report = expect(c.get("/api/records/v1/admissions/reports/intake", params={"year": 2027, "institution": INSTITUTION},
                              headers=officer)).json()
        row = next(x for x in report["items"] if x["intake_code"] == INTAKE)
        step(f"ministry.demo — intake {INTAKE}: {row['applications']} applications, {row['enrolled']} enrolled of {row['capacity']} places")
        check(row["enrolled"] >= 1, "the intake counts the enrolment")
    print("pathways demo: OK")


if __name__ == "__main__":
    main()
