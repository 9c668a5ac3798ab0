"""Enterprises as participants through the API: an enterprise registered in identity (type enterprise) is invited by
a college to review a programme's outcomes (comments per outcome), to sit on an RPL assessment panel, and to answer
the employer feedback form on the college's graduates of a year — by its signed link (no account) or with its own
machine client's token. Invitations put twice are one; a form is answered once; errors name the field; another
school sees none of it. The employer feedback report, counted by hand: 2 enterprises invited, 1 answered (0.5),
5 graduates employed, skills match 1/1, would hire again 1/1."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from tests.records.helpers import code, learner, login, run_ok, world
from tests.records.test_admissions import vneid_sign_in
from tests.support import Platform, gateway_to_service, id_number

#: no call to identity (or another service) while a write transaction is open: services.common.testing.WriteTransactions
pytestmark = pytest.mark.usefixtures("no_calls_in_write_transactions")

PROVINCE, YEAR = "048", 2031


@pytest.fixture(scope="module")
async def parties(platform: Platform) -> dict[str, Any]:
    ministry, admin = await login(platform, "ministry.demo", "dev-only-Ministry#2026"), await platform.admin_headers()
    college, ent, ent2 = (f"{p}{uuid.uuid4().hex[:6].upper()}" for p in ("CD", "DN", "DN"))
    async with platform.client("identity") as c:
        for inst, kind, name in [(college, "college", "Trường Cao đẳng thử doanh nghiệp"), (ent, "enterprise", "Công ty TNHH Phần mềm Thử"),
                                 (ent2, "enterprise", "Công ty CP Cơ khí Thử")]:
            r = await c.post("/v1/institutions", headers=ministry, json={"code": inst, "name": name, "type": kind, "province_code": PROVINCE})
            assert r.status_code == 201, r.text
        client = {"client_id": f"erp-{ent.lower()}", "name": "ERP doanh nghiệp", "scopes": ["records:read"], "institution_code": ent,
                  "roles": ["school_system"]}
        r = await c.post("/v1/clients", json=client, headers=admin)
        assert r.status_code == 201, r.text
        secret = r.json()["client_secret"]
    token = await platform.token(client["client_id"], secret)
    p, t, k = code("CNTT"), code("HK"), code("K")
    async with platform.client("records") as c:
        await run_ok(c, admin, world(p, t, k, [learner(id_number(PROVINCE, 2, 5), "Võ Văn Tài", p, k)], []), institution=college)
        r = await c.put(f"/v1/institutions/{college}/programmes/{p}/outcomes", headers=admin, json={"outcomes": [
            {"code": "KN1", "text": "Lập trình ứng dụng", "vqf_level": 5, "digital_competence": True},
            {"code": "KN2", "text": "Làm việc nhóm", "vqf_level": 5}]})
        assert r.status_code == 200, r.text
        enrolment = (await c.get(f"/v1/institutions/{college}/learners", headers=admin)).json()
    return {"college": college, "ent": ent, "ent2": ent2, "programme": p, "erp": {"Authorization": f"Bearer {token}"},
            "learners": enrolment}


def _path(link: str) -> str:
    return "/v1/enterprise-invitations/" + link.rsplit("/v1/enterprise-invitations/", 1)[1]


async def test_review_panel_feedback_and_report(platform: Platform, parties: dict[str, Any]) -> None:
    admin, school = await platform.admin_headers(), await platform.school_headers()
    college, ent, ent2, p = parties["college"], parties["ent"], parties["ent2"], parties["programme"]
    invite = f"/v1/institutions/{college}/enterprise-invitations"
    async with platform.client("records") as c:
        # a programme review: invited once however often it is sent
        review = {"enterprise_code": ent, "purpose": "programme_review", "programme_code": p, "message": "Mời góp ý chuẩn đầu ra"}
        r = await c.put(invite, headers=admin, json=review)
        assert r.status_code == 201, r.text
        first = r.json()
        r = await c.put(invite, headers=admin, json=review)
        assert r.status_code == 200 and r.json()["id"] == first["id"], r.text
        r = await c.put(invite, headers=admin, json=review | {"enterprise_code": college})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "enterprise_code", r.text
        r = await c.put(invite, headers=admin, json={"enterprise_code": ent, "purpose": "programme_review"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "programme_code", r.text
        assert (await c.put(invite, headers=school, json=review)).status_code == 403

        path = _path(first["link"])
        r = await c.get(path)
        assert r.status_code == 200 and [o["code"] for o in r.json()["programme"]["outcomes"]] == ["KN1", "KN2"], r.text
        r = await c.post(path, json={"comments": [{"outcome_code": "KN9", "comment": "?"}]})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "comments[0].outcome_code", r.text
        comments = {"comments": [{"outcome_code": "KN1", "comment": "Bổ sung kiểm thử tự động"}]}
        for _ in range(2):
            r = await c.post(path, json=comments)
            assert r.status_code == 200 and r.json()["responded"] is True, r.text
        assert (await c.get(path[:-1] + ("A" if path[-1] != "A" else "B"))).status_code == 404
        r = await c.get(f"/v1/institutions/{college}/programmes/{p}/outcome-comments", headers=admin)
        assert [(x["enterprise_code"], x["outcome_code"], x["comment"]) for x in r.json()] == [(ent, "KN1", "Bổ sung kiểm thử tự động")]
        assert (await c.get(f"/v1/institutions/{college}/programmes/{p}/outcome-comments", headers=school)).status_code == 403

        # an assessment panel: the enterprise's system names its expert, who joins the panel (once)
        enrolment_id = parties["learners"]["items"][0]["enrolments"][0]["id"]
        r = await c.put(f"/v1/enrolments/{enrolment_id}/rpl/M1", headers=admin,
                        json={"assessor": "Nguyễn Thị Lan", "experience": "2 năm lập trình web", "panel": [{"name": "Nguyễn Thị Lan", "role": "chair"}]})
        assert r.status_code == 201, r.text
        assessment_id = r.json()["id"]
        r = await c.put(invite, headers=admin, json={"enterprise_code": ent, "purpose": "assessment_panel", "assessment_id": assessment_id})
        assert r.status_code == 201, r.text
        panel_invitation = r.json()["id"]
        erp = parties["erp"]
        mine = (await c.get(f"/v1/enterprises/{ent}/invitations", headers=erp)).json()
        assert {i["purpose"] for i in mine} == {"programme_review", "assessment_panel"}
        assert (await c.get(f"/v1/enterprises/{ent}/invitations", headers=school)).status_code == 403
        assert (await c.get(f"/v1/enterprises/{ent2}/invitations", headers=erp)).status_code == 403
        for _ in range(2):
            r = await c.post(f"/v1/enterprises/{ent}/invitations/{panel_invitation}", headers=erp, json={"member_name": "Đỗ Văn Tâm"})
            assert r.status_code == 200, r.text
        r = await c.post(f"/v1/enterprises/{ent}/invitations/{panel_invitation}", headers=erp, json={"member_name": "Người khác"})
        assert r.status_code == 409, r.text
        r = await c.get(f"/v1/rpl-assessments/{assessment_id}", headers=admin)
        assert [(m["name"], m["institution_code"]) for m in r.json()["panel"]] == [("Nguyễn Thị Lan", None), ("Đỗ Văn Tâm", ent)]

        # employer feedback on the graduates of a year: two enterprises invited, one answers by its link (once)
        links = []
        for e in (ent, ent2):
            r = await c.put(invite, headers=admin, json={"enterprise_code": e, "purpose": "employer_feedback", "graduation_year": YEAR})
            assert r.status_code == 201, r.text
            links.append(_path(r.json()["link"]))
        r = await c.get(links[0])
        assert [q["code"] for q in r.json()["questions"]] == ["graduates_employed", "skills_match", "would_hire_again", "skills_gaps"]
        r = await c.post(links[0], json={"answers": {"graduates_employed": 5, "skills_match": "tốt"}})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "answers.skills_match", r.text
        r = await c.post(links[0], json={"answers": {"skills_match": "mostly"}})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "answers.graduates_employed", r.text
        answers = {"graduates_employed": 5, "skills_match": "mostly", "would_hire_again": True, "skills_gaps": "Tiếng Anh chuyên ngành"}
        r = await c.post(links[0], json={"answers": answers})
        assert r.status_code == 200, r.text
        assert (await c.post(links[0], json={"answers": answers})).status_code == 409

        r = await c.get("/v1/employer-feedback-report", params={"graduation_year": YEAR, "institution": college}, headers=admin)
        assert r.status_code == 200, r.text
        (row,) = r.json()["items"]
        assert (row["invited"], row["responded"], row["response_rate"], row["graduates_employed"], row["skills_match_rate"],
                row["would_hire_again_rate"]) == (2, 1, 0.5, 5, 1.0, 1.0)
        r = await c.get("/v1/employer-feedback-report", params={"graduation_year": YEAR, "province": PROVINCE, "by": "province",
                                                                 "format": "csv"}, headers=admin)
        assert r.text.splitlines() == ["province,invited,responded,response_rate,graduates_employed,skills_match_rate,would_hire_again_rate",
                                       f"{PROVINCE},2,1,0.5,5,1.0,1.0"], r.text
        assert (await c.get("/v1/employer-feedback-report", params={"graduation_year": YEAR, "institution": college},
                            headers=school)).status_code == 403
        assert (await c.get(f"/v1/institutions/{college}/enterprise-invitations", headers=school)).status_code == 403
        assert len((await c.get(f"/v1/institutions/{college}/enterprise-invitations", headers=admin)).json()) == 4

        # the same invitation sent twice at once: one is made, the other finds it or is told to send again (never a 5xx)
        twice = {"enterprise_code": ent2, "purpose": "employer_feedback", "graduation_year": YEAR - 1}
        answers_ = await asyncio.gather(*(c.put(invite, headers=admin, json=twice) for _ in range(2)))
        assert sorted(r.status_code for r in answers_) in ([200, 201], [201, 409]), [r.text for r in answers_]
        r = await c.put(invite, headers=admin, json=twice)
        assert r.status_code == 200, r.text
        assert len((await c.get(f"/v1/institutions/{college}/enterprise-invitations", headers=admin)).json()) == 5

        # the next year's yearly report (due 15 December) carries the employers' feedback, and so does its signed export
        r = await c.post("/v1/reports", json={"scope": "institution", "code": college, "year": YEAR + 1}, headers=admin)
        assert r.status_code == 201, r.text
        assert r.json()["figures"]["employer_feedback"] == [{
            "graduation_year": YEAR, "invited": 2, "responded": 1, "response_rate": 0.5, "graduates_employed": 5,
            "skills_match_rate": 1.0, "would_hire_again_rate": 1.0}]
        assert r.json()["figures"]["followup_rates"] == []
        report_id = r.json()["id"]
        assert (await c.post(f"/v1/reports/{report_id}/submit", headers=admin)).status_code == 200
        export = (await c.get(f"/v1/reports/{report_id}/export", headers=admin)).json()
        schema = (await c.get("/v1/report-schemas/yearly-report")).json()
        Draft202012Validator(schema, format_checker=FormatChecker()).validate(export)
        as_csv = (await c.get(f"/v1/reports/{report_id}/export", params={"format": "csv"}, headers=admin)).text
        (line,) = [x for x in as_csv.splitlines() if ",employer_feedback," in x]
        assert line.endswith(f",{YEAR},,2,1,0.5,,,,,,5,1.0,1.0"), line


def _person_of(headers: dict[str, str]) -> str:
    """The person id a user token carries (its claims, read without checking: the service checks them)."""
    payload = headers["Authorization"].removeprefix("Bearer ").split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["person_id"])


async def test_panel_member_sees_that_assessments_evidence_only(platform: Platform, parties: dict[str, Any]) -> None:
    """The expert an enterprise names for an RPL panel, bound to their account by the enterprise's answer, lists and
    downloads (an expiring link) the evidence of that assessment — and nothing else: not another assessment's, not the
    assessment itself; another enterprise's member, the enterprise's system, another school: 404; the expert taken
    off the panel: 404 again."""
    admin, school, erp = await platform.admin_headers(), await platform.school_headers(), parties["erp"]
    college, ent, ent2 = parties["college"], parties["ent"], parties["ent2"]
    invite = f"/v1/institutions/{college}/enterprise-invitations"
    enrolment_id = parties["learners"]["items"][0]["enrolments"][0]["id"]
    expert = await vneid_sign_in(platform, id_number(PROVINCE, 0, 88), "Đỗ Văn Tâm", "1988-03-04", "male")
    other = await vneid_sign_in(platform, id_number(PROVINCE, 3, 1), "Phan Thị Hoa", "2001-07-08", "female")
    async with platform.client("records") as c:
        assessments, invitations = {}, {}
        for module, enterprise in (("M2", ent), ("GDQP", ent2)):
            r = await c.put(f"/v1/enrolments/{enrolment_id}/rpl/{module}", headers=admin,
                            json={"assessor": "Nguyễn Thị Lan", "experience": "3 năm vận hành cơ sở dữ liệu", "panel": []})
            assert r.status_code == 201, r.text
            assessments[module] = r.json()["id"]
            r = await c.put(f"/v1/rpl-assessments/{assessments[module]}/evidence/ho-so-{module}.pdf",
                            headers=admin | {"content-type": "application/pdf"}, content=f"%PDF-1.4 {module}".encode())
            assert r.status_code == 200, r.text
            r = await c.put(invite, headers=admin, json={"enterprise_code": enterprise, "purpose": "assessment_panel",
                                                         "assessment_id": assessments[module]})
            assert r.status_code == 201, r.text
            invitations[module] = r.json()["id"]
        a, b = assessments["M2"], assessments["GDQP"]

        # named but not yet bound to an account: the expert sees nothing
        answer = f"/v1/enterprises/{ent}/invitations/{invitations['M2']}"
        assert (await c.post(answer, headers=erp, json={"member_name": "Đỗ Văn Tâm"})).status_code == 200
        assert (await c.get(f"/v1/rpl-assessments/{a}/evidence", headers=expert)).status_code == 404
        # the enterprise binds its member to their account (again: no change; another person: a conflict)
        for _ in range(2):
            r = await c.post(answer, headers=erp, json={"member_name": "Đỗ Văn Tâm", "member_person_id": _person_of(expert)})
            assert r.status_code == 200, r.text
        r = await c.post(answer, headers=erp, json={"member_name": "Đỗ Văn Tâm", "member_person_id": _person_of(other)})
        assert r.status_code == 409, r.text
        # the other enterprise's member sits on the other panel (by its link)
        link = next(i["link"] for i in (await c.get(invite, headers=admin)).json() if i["id"] == invitations["GDQP"])
        r = await c.post(_path(link), json={"member_name": "Phan Thị Hoa", "member_person_id": _person_of(other)})
        assert r.status_code == 200, r.text

        r = await c.get(f"/v1/rpl-assessments/{a}/evidence", headers=expert)
        assert r.status_code == 200 and [e["name"] for e in r.json()] == ["ho-so-M2.pdf"], r.text
        r = await c.get(f"/v1/rpl-assessments/{a}/evidence/ho-so-M2.pdf", headers=expert)
        assert r.status_code == 200 and r.json()["expires_in"] == 300, r.text
        assert (await c.get(gateway_to_service(r.json()["download_url"]))).content == b"%PDF-1.4 M2"
        assert (await c.get(f"/v1/rpl-assessments/{a}", headers=expert)).status_code == 404  # the evidence, not the record
        assert (await c.get(f"/v1/rpl-assessments/{b}/evidence", headers=expert)).status_code == 404
        assert (await c.get(f"/v1/rpl-assessments/{b}/evidence/ho-so-GDQP.pdf", headers=expert)).status_code == 404
        for who in (other, erp, school):
            assert (await c.get(f"/v1/rpl-assessments/{a}/evidence", headers=who)).status_code == 404
            assert (await c.get(f"/v1/rpl-assessments/{a}/evidence/ho-so-M2.pdf", headers=who)).status_code == 404
        assert (await c.get(f"/v1/rpl-assessments/{a}/evidence")).status_code == 401
        r = await c.get(f"/v1/rpl-assessments/{b}/evidence", headers=other)
        assert r.status_code == 200 and [e["name"] for e in r.json()] == ["ho-so-GDQP.pdf"], r.text
        assert (await c.get(f"/v1/rpl-assessments/{a}/evidence", headers=admin)).status_code == 200

        # the institution takes the expert off the panel: the evidence is closed to them at once
        r = await c.put(f"/v1/enrolments/{enrolment_id}/rpl/M2", headers=admin,
                        json={"assessor": "Nguyễn Thị Lan", "experience": "3 năm vận hành cơ sở dữ liệu", "panel": []})
        assert r.status_code == 200 and r.json()["panel"] == [], r.text
        assert (await c.get(f"/v1/rpl-assessments/{a}/evidence/ho-so-M2.pdf", headers=expert)).status_code == 404
