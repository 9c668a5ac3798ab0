"""Learner pathways demo (admissions), against a running `make run`:

    .venv/bin/python demo/pathways.py [http://127.0.0.1:8000]

The education department's system (demo-sgddt-048, scope admissions:share) pushes the graduating cohort 2022 of a
secondary school in TP Hồ Chí Minh — three graduates and one bad row, which is named by its row and field (mode
partial keeps the good rows). Lê Thị Hồng Nhung signs in with VNeID (the development stand-in, citizen "nhung"),
sees what her school shared and who received it, lets CD0101 see her data for counselling and withdraws it again
(CD0101's system sees her, then does not). She applies to the college intake TS2027-CKOTO of CD7902 (demo data:
`python -m services seed`); CD7902's system reviews and offers, she accepts, the system enrols her — and her own
records show the enrolment, nothing retyped. ministry.demo reads the streaming report of the district and the
intake against capacity.

Then the transfer (liên thông): Nhung had studied at CD0101's intermediate programme in automotive technology (its
system syncs her results and the graduation decision; the platform's outbox carries it to credentials, which issues
her diploma). CD7902 keeps equivalence rules as data — its OTO201 and OTO202 from CD0101's modules with the same
content (at least 6.5, at most 5 years old, grade in the GPA), OTO203 from an intermediate diploma in automotive
technology. Nhung asks CD7902 for recognition, presenting her diploma (the credentials service verifies it); CD7902
approves the three modules, and her transcript shows them "công nhận", each with its source.

A year after that graduation (28 June 2024), CD0101 opens the 12-month follow-up round for its graduates of 2024;
its system takes her one-time link from the round's invitations and she answers through it, no account (employed,
in the trained occupation); signed in, she sees the survey as answered. ministry.demo's follow-up report (JSON, then
CSV) shows CD0101's 2024 intermediate automotive graduates with her answer: responded, employed, the employment rate.

Safe to run again: the pushes and syncs upsert, the application carries on from where it stands, the request and
decisions are idempotent, the round's PUT invites no one twice, an answered survey is not answered again."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone

import httpx
from _client import check, client_token, expect, gateway, path_of, sign_in, step
from records import vneid_sign_in, watch

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
        transfer(c, nhung, school_cd0101, college)
        followup(c, nhung, school_cd0101, officer)
    print("pathways demo: OK")


PRIOR = {"code": "TC-OTO-2022", "name": "Công nghệ ô tô (trung cấp)", "level": "intermediate", "occupation_code": "5510216",
         "year": 2022, "modules": [{"code": "TC-DC", "name": "Động cơ đốt trong", "credits": 4},
                                   {"code": "TC-DIEN", "name": "Điện ô tô", "credits": 3},
                                   {"code": "GDQP", "name": "Giáo dục quốc phòng và an ninh", "credits": 2, "is_condition": True}]}
RULES = {
    "R-OTO201": {"module_code": "OTO201", "source_kind": "module", "source_module_code": "TC-DC", "source_institution_code": "CD0101",
                 "min_credits": 4, "min_grade": "6.5", "max_age_years": 5, "in_gpa": True},
    "R-OTO202": {"module_code": "OTO202", "source_kind": "module", "source_module_code": "TC-DIEN", "source_institution_code": "CD0101",
                 "min_credits": 3, "min_grade": "6.5", "max_age_years": 5, "in_gpa": True},
    "R-OTO203": {"module_code": "OTO203", "source_kind": "credential", "source_occupation_code": "5510216", "source_level": "intermediate",
                 "min_grade": "2.5"},
}


def transfer(c: httpx.Client, nhung: dict[str, str], school: dict[str, str], college: dict[str, str]) -> None:
    # her intermediate studies at CD0101: results and graduation, synced by the school's system
    grades = [{"id_number": NHUNG, "programme_code": PRIOR["code"], "module_code": m, "term_code": "HK-OTO-2023",
               "components": {"continuous": cont, "final": final}} for m, cont, final in [("TC-DC", "8", "8.5"), ("TC-DIEN", "7", "7.5"),
                                                                                         ("GDQP", "7", "7")]]
    batch = {"programmes": [PRIOR],
             "terms": [{"code": "HK-OTO-2023", "name": "Học kỳ 2 năm 2022-2023", "start_date": "2023-02-01", "end_date": "2023-06-30"}],
             "cohorts": [{"code": "K-OTO-2022", "name": "Lớp trung cấp ô tô K2022", "programme_code": PRIOR["code"], "start_year": 2022}],
             "learners": [{"id_number": NHUNG, "full_name": "Lê Thị Hồng Nhung", "date_of_birth": "2004-09-02", "sex": "female",
                           "programme_code": PRIOR["code"], "cohort_code": "K-OTO-2022", "enrolled_on": "2022-09-05"}],
             "grades": grades}
    job = expect(c.post("/api/records/v1/institutions/CD0101/sync/json", json=batch, headers=school), 202).json()
    job = watch(c, job, school)
    check(job["status"] == "succeeded", "CD0101's sync of her intermediate results applies")
    cohorts = expect(c.get("/api/records/v1/institutions/CD0101/cohorts", headers=school)).json()
    cohort = next(x for x in cohorts if x["code"] == "K-OTO-2022")
    grad = expect(c.post(f"/api/records/v1/cohorts/{cohort['id']}/graduation", headers=school,
                         json={"decision_number": "88/QĐ-CĐKTCN", "decision_date": "2024-06-28"})).json()
    step(f"CD0101's system syncs her intermediate results (TC-DC 8.3, TC-DIEN 7.3) and the graduation decision: "
         f"{grad['lines'][0]['outcome'] if grad['lines'] else '-'}")

    # the diploma: issued by credentials from records' graduation event; Nhung lists her own credentials
    diploma = None
    deadline = time.monotonic() + 120
    while diploma is None and time.monotonic() < deadline:
        mine = expect(c.get("/api/credentials/v1/credentials", headers=nhung)).json()["items"]
        found = next((x for x in mine if x["institution_code"] == "CD0101" and x["kind"] == "diploma" and x["status"] == "active"), None)
        if found is None:
            time.sleep(0.5)
            continue
        diploma = expect(c.get(f"/api/credentials/v1/credentials/{found['id']}", headers=nhung)).json()
    check(diploma is not None, "credentials issues her intermediate diploma from the graduation event within two minutes")
    assert diploma is not None
    step(f"her diploma is issued by credentials: {diploma['title']} (serial {diploma['serial_number']})")

    # CD7902's equivalence rules, as data
    for code, rule in RULES.items():
        expect(c.put(f"/api/records/v1/institutions/{INSTITUTION}/programmes/{PROGRAMME}/equivalences/{code}", json=rule,
                     headers=college), 200, 201)
    step(f"{INSTITUTION} keeps its equivalence rules: OTO201 ← CD0101's TC-DC, OTO202 ← TC-DIEN (≥ 6.5, ≤ 5 years, in the GPA), "
         "OTO203 ← an intermediate diploma in 5510216 (GPA ≥ 2.5)")

    # she asks, presenting her diploma; CD7902 decides per module
    request = expect(c.put(f"/api/records/v1/recognition/me/{INSTITUTION}/{PROGRAMME}", headers=nhung,
                           json={"credentials": [diploma["document"]]}), 200, 201).json()
    for item in request["items"]:
        checks = ", ".join(f"{x['check']} {'✓' if x['passed'] else '✗'}" for x in item["checks"])
        step(f"  {item['module_code']} ← {item['source_kind']} ({checks}): {item['status']}")
    wanted = {"OTO201": "record", "OTO202": "record", "OTO203": "credential"}
    for module, kind in wanted.items():
        item = next((x for x in request["items"] if x["module_code"] == module and x["source_kind"] == kind), None)
        check(item is not None, f"her request has {module} from her {kind}")
        assert item is not None
        if item["status"] == "pending":
            request = expect(c.put(f"/api/records/v1/recognition-requests/{request['id']}/items/{item['id']}/decision", headers=college,
                                   json={"decision": "approved", "reason": "Đủ điều kiện theo quy tắc quy đổi"})).json()
    step(f"{INSTITUTION} approves the three modules: request {request['status']}")

    transcript = expect(c.get(f"/api/records/v1/enrolments/{request['enrolment_id']}/transcript", headers=nhung)).json()
    recognised = {r["module_code"]: r for r in transcript["results"] if r.get("recognition")}
    check(set(recognised) >= set(wanted), "her transcript shows OTO201, OTO202, OTO203 recognised")
    for code in sorted(recognised):
        r = recognised[code]
        step(f"  transcript: {code} {r['recognition']['label']} — {r['recognition']['source']}"
             f"{'' if r['recognition']['in_gpa'] else ' (not in the GPA)'}")
    step(f"her GPA so far {transcript['gpa']}, {transcript['credits_earned']} credits earned")



GRADUATED_ON = date(2024, 6, 28)  # CD0101's graduation decision above
ANSWERS = {"employed": True, "in_trained_occupation": True, "employer_type": "private", "income_band": "5m_10m", "further_study": False}


def followup(c: httpx.Client, nhung: dict[str, str], school: dict[str, str], officer: dict[str, str]) -> None:
    # the 12-month round of CD0101's graduates of 2024: open since a year after the decision; answers are taken while
    # today (Vietnam time) is within the round, so it closes a month from now at the earliest
    opens = GRADUATED_ON.replace(year=GRADUATED_ON.year + 1)
    today = datetime.now(timezone(timedelta(hours=7))).date()
    closes = max(opens + timedelta(days=92), today + timedelta(days=30))
    survey = expect(c.put(f"/api/records/v1/institutions/CD0101/followup-rounds/{GRADUATED_ON.year}/12", headers=school,
                          json={"opens_on": opens.isoformat(), "closes_on": closes.isoformat()}), 200, 201).json()
    step(f"CD0101 opens the 12-month follow-up round of its {survey['graduation_year']} graduates ({survey['opens_on']} – "
         f"{survey['closes_on']}, {len(survey['questions'])} questions): {survey['invited']} invited")
    invitations = expect(c.get(f"/api/records/v1/followup-rounds/{survey['id']}/invitations", params={"limit": 1000}, headers=school)).json()
    mine = next((i for i in invitations if i["full_name"] == "Lê Thị Hồng Nhung" and i["programme_code"] == PRIOR["code"]), None)
    check(mine is not None, "the round invites her, as a 2024 graduate of TC-OTO-2022")
    assert mine is not None
    if mine["responded_at"] is None:
        with httpx.Client(base_url=c.base_url, timeout=60) as anonymous:  # the link alone: no account, no cookie
            form = expect(anonymous.get(path_of(mine["link"]))).json()
            check(not form["responded"] and form["months_after"] == 12, "her link opens the unanswered 12-month survey")
            form = expect(anonymous.post(path_of(mine["link"]), json={"answers": ANSWERS})).json()
            check(form["responded"], "her answer is taken")
            again = anonymous.post(path_of(mine["link"]), json={"answers": ANSWERS})
            check(again.status_code == 409, "the link answers once")
        step(f"she answers through her one-time link, no account: {ANSWERS}; the link then refuses a second answer")
    else:
        step(f"she answered through her one-time link on {mine['responded_at'][:10]} (an earlier run)")
    forms = expect(c.get("/api/records/v1/followup/me", headers=nhung)).json()
    check(any(f["invitation_id"] == mine["id"] and f["responded"] for f in forms), "signed in, she sees the survey as answered")
    answered = next(f for f in forms if f["invitation_id"] == mine["id"])
    step(f"signed in, she sees it answered: {answered['programme_name']}, graduates of {answered['graduation_year']}, "
         f"{answered['months_after']} months")

    params = {"graduation_year": GRADUATED_ON.year, "months_after": 12, "institution": "CD0101", "by": "institution,occupation,level,sex"}
    report = expect(c.get("/api/records/v1/followup-report", params=params, headers=officer)).json()
    row = next((x for x in report["items"] if x["group"] == {"institution": "CD0101", "occupation": PRIOR["occupation_code"],
                                                              "level": "intermediate", "sex": "female"}), None)
    check(row is not None and row["responded"] >= 1 and row["employed"] >= 1, "the report counts her as responded and employed")
    assert row is not None
    step(f"ministry.demo — follow-up report 2024, 12 months, CD0101 {PRIOR['occupation_code']} intermediate, women: "
         f"{row['responded']} of {row['invited']} responded ({row['response_rate']:.0%}), {row['employed']} employed "
         f"(employment rate {row['employment_rate']:.0%}), {row['in_trained_occupation']} in the trained occupation")
    csv = expect(c.get("/api/records/v1/followup-report", params={**params, "format": "csv"}, headers=officer)).text.splitlines()
    line = next((x for x in csv[1:] if x.startswith(f"CD0101,{PRIOR['occupation_code']},intermediate,female,")), None)
    check(line is not None, "the CSV report has the same row")
    step(f"  as CSV: {csv[0]}")
    step(f"          {line}")


if __name__ == "__main__":
    main()
