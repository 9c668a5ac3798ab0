"""OneRoster 1.2 CSV zip: bulk import, then a delta that changes one result and deletes another; another
institution's org refused."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from tests.records.helpers import code, errors_of, id_number, learner, run_ok, wait_job, world
from tests.support import Platform


def zip_of(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


ALL_FILES = ("orgs", "academicSessions", "courses", "classes", "users", "enrollments", "lineItems", "results")


def manifest(mode: str, files: tuple[str, ...] = ALL_FILES) -> str:
    rows = ["propertyName,value", "manifest.version,1.0", "oneroster.version,1.2"]
    rows += [f"file.{n},{mode if n in files else 'absent'}" for n in ALL_FILES]
    return "\n".join(rows) + "\n"


async def test_bulk_then_delta(platform: Platform) -> None:
    school = await platform.school_headers()
    p, k = code("CNTT"), code("K")
    a, b = id_number(), id_number(century_gender=3)
    async with platform.client("records") as c:
        await run_ok(c, school, world(p, code("HK"), k, [], []))
        term = code("or-term")
        files = {
            "manifest.csv": manifest("bulk"),
            "orgs.csv": "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\norg1,active,,Trường demo,school,CD0101,\n",
            "academicSessions.csv": f"sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear\n{term},active,,Học kỳ 1,term,2024-09-01,2025-01-15,,2025\n",
            "courses.csv": f"sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,orgSourcedId,subjects,subjectCodes,metadata.vn.programmeCode,metadata.vn.credits\nc1,active,,,Lập trình web,WEB1,,org1,,,{p},3\n",
            "classes.csv": f"sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods\ncl1,active,,Lớp web,,c1,,scheduled,,org1,{term},,,\n",
            "users.csv": f"sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password,userMasterIdentifier,resourceSourcedIds,preferredGivenName,preferredMiddleName,preferredFamilyName,primaryOrgSourcedId,pronouns,roles\nu1,active,,true,a,,An,Nguyễn,Văn,SV1,,,,,,,{a},,,,,org1,,student\nu2,active,,true,b,,Bình,Lê,Thị,SV2,,,,,,,{b},,,,,org1,,student\n",
            "enrollments.csv": "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate\ne1,active,,cl1,org1,u1,student,,2024-09-05,\ne2,active,,cl1,org1,u2,student,,2024-09-05,\n",
            "lineItems.csv": "sourcedId,status,dateLastModified,title,description,assignDate,dueDate,classSourcedId,categorySourcedId,gradingPeriodSourcedId,resultValueMin,resultValueMax,metadata.vn.component\nli1,active,,Thường xuyên,,,,cl1,,,0,10,continuous\nli2,active,,Thi kết thúc,,,,cl1,,,0,10,final\n",
            "results.csv": "sourcedId,status,dateLastModified,lineItemSourcedId,studentSourcedId,scoreStatus,score,textScore,scoreDate,comment\nr1,active,,li1,u1,fully graded,8,,,\nr2,active,,li2,u1,fully graded,9,,,\nr3,active,,li1,u2,fully graded,5,,,\nr4,active,,li2,u2,fully graded,6,,,\n",
        }
        r = await c.post("/v1/institutions/CD0101/sync/oneroster", content=zip_of(files), headers=school | {"content-type": "application/zip"})
        assert r.status_code == 202, r.text
        job = await wait_job(c, r.json()["id"], school)
        assert job["status"] == "succeeded", (job, await errors_of(c, job, school))
        assert job["processing"] == "bulk" and job["created"] == 1 + 1 + 2 + 2 + 2  # term, module, learners, enrolments, grades
        since = (await c.get("/v1/changes", headers=school)).json()["latest_version"]
        delta = dict(files, **{
            "manifest.csv": manifest("delta"),
            "results.csv": "sourcedId,status,dateLastModified,lineItemSourcedId,studentSourcedId,scoreStatus,score,textScore,scoreDate,comment\nr1,active,,li1,u1,fully graded,10,,,\nr2,active,,li2,u1,fully graded,9,,,\nr3,tobedeleted,,li1,u2,,,,,\n",
        })
        r = await c.post("/v1/institutions/CD0101/sync/oneroster", content=zip_of(delta), headers=school | {"content-type": "application/zip"})
        job = await wait_job(c, r.json()["id"], school)
        assert job["status"] == "succeeded" and job["processing"] == "delta", job
        changes = [(x["entity"], x["operation"]) for x in (await c.get("/v1/changes", params={"since": since}, headers=school)).json()["items"]]
        assert sorted(changes) == [("grade", "delete"), ("grade", "upsert")]
        # another institution's org in the zip is refused, nothing applied
        foreign = dict(files, **{"orgs.csv": "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\norg1,active,,X,school,TC7901,\n"})
        r = await c.post("/v1/institutions/CD0101/sync/oneroster", content=zip_of(foreign), headers=school | {"content-type": "application/zip"})
        job = await wait_job(c, r.json()["id"], school)
        assert job["status"] == "failed"
        assert [(e["source"], e["field"]) for e in await errors_of(c, job, school)] == [("orgs.csv", "identifier")]


async def test_delta_result_merges_with_stored_components(platform: Platform) -> None:
    """A delta ``results.csv`` carries only the results that changed: a row changing one component of a grade is
    merged with the components already stored for that grade (natural key), the module score is recomputed and
    audited, and sending the same delta again changes nothing."""
    from sqlalchemy import select

    from services.records.models import Enrolment, Grade, GradeAudit, Learner, Module

    school = await platform.school_headers()
    p = code("CNTT")
    a = id_number()
    async with platform.client("records") as c:
        await run_ok(c, school, world(p, code("HK"), code("K"), [], []))
        term = code("or-term")
        results_header = "sourcedId,status,dateLastModified,lineItemSourcedId,studentSourcedId,scoreStatus,score,textScore,scoreDate,comment\n"
        files = {
            "manifest.csv": manifest("bulk"),
            "orgs.csv": "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\norg1,active,,Trường demo,school,CD0101,\n",
            "academicSessions.csv": f"sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear\n{term},active,,Học kỳ 1,term,2024-09-01,2025-01-15,,2025\n",
            "courses.csv": f"sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,orgSourcedId,subjects,subjectCodes,metadata.vn.programmeCode,metadata.vn.credits\nc1,active,,,Lập trình cơ bản,M1,,org1,,,{p},3\n",
            "classes.csv": f"sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods\ncl1,active,,Lớp M1,,c1,,scheduled,,org1,{term},,,\n",
            "users.csv": f"sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password,userMasterIdentifier,resourceSourcedIds,preferredGivenName,preferredMiddleName,preferredFamilyName,primaryOrgSourcedId,pronouns,roles\nu1,active,,true,a,,An,Nguyễn,Văn,SV1,,,,,,,{a},,,,,org1,,student\n",
            "enrollments.csv": "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate\ne1,active,,cl1,org1,u1,student,,2024-09-05,\n",
            "lineItems.csv": "sourcedId,status,dateLastModified,title,description,assignDate,dueDate,classSourcedId,categorySourcedId,gradingPeriodSourcedId,resultValueMin,resultValueMax,metadata.vn.component\nli1,active,,Thường xuyên,,,,cl1,,,0,10,continuous\nli2,active,,Thi kết thúc,,,,cl1,,,0,10,final\n",
            "results.csv": results_header + "r1,active,,li1,u1,fully graded,6,,,\nr2,active,,li2,u1,fully graded,7,,,\n",
        }
        r = await c.post("/v1/institutions/CD0101/sync/oneroster", content=zip_of(files), headers=school | {"content-type": "application/zip"})
        job = await wait_job(c, r.json()["id"], school)
        assert job["status"] == "succeeded", (job, await errors_of(c, job, school))

        async def stored() -> tuple[Grade, list[GradeAudit]]:
            async with platform.apps["records"].state.db.session() as s:
                g = (await s.execute(
                    select(Grade).join(Enrolment, Grade.enrolment_id == Enrolment.id).join(Learner, Enrolment.learner_id == Learner.id)
                    .join(Module, Grade.module_id == Module.id)
                    .where(Learner.institution_code == "CD0101", Learner.id_number == a, Module.code == "M1")
                )).scalar_one()
                audits = list((await s.scalars(select(GradeAudit).where(GradeAudit.grade_id == g.id).order_by(GradeAudit.changed_at, GradeAudit.id))).all())
                return g, audits

        g, audits = await stored()
        assert (g.components, str(g.score), g.letter) == ({"continuous": "6", "final": "7"}, "6.6", "C")  # 0.4×6 + 0.6×7
        assert len(audits) == 1

        # delta: only the final exam of that grade changed (re-marked 7 → 9); no other result row is sent
        delta = dict(files, **{"manifest.csv": manifest("delta"), "results.csv": results_header + "r2,active,,li2,u1,fully graded,9,,,\n"})
        since = (await c.get("/v1/changes", headers=school)).json()["latest_version"]
        r = await c.post("/v1/institutions/CD0101/sync/oneroster", content=zip_of(delta), headers=school | {"content-type": "application/zip"})
        job = await wait_job(c, r.json()["id"], school)
        assert job["status"] == "succeeded" and job["processing"] == "delta", (job, await errors_of(c, job, school))
        assert job["rejected"] == 0 and job["updated"] == 1, job  # the grade; term, module, learner, enrolment unchanged
        g, audits = await stored()
        assert (g.components, str(g.score), g.letter, g.version) == ({"continuous": "6", "final": "9"}, "7.8", "B", 2)  # 0.4×6 + 0.6×9
        assert len(audits) == 2
        assert (audits[1].old["components"], audits[1].old["score"]) == ({"continuous": "6", "final": "7"}, "6.6")
        assert (audits[1].new["components"], audits[1].new["score"], audits[1].source, str(audits[1].sync_job_id)) == (
            {"continuous": "6", "final": "9"}, "7.8", "oneroster", job["id"])
        changes = (await c.get("/v1/changes", params={"since": since}, headers=school)).json()
        assert [(x["entity"], x["operation"]) for x in changes["items"]] == [("grade", "upsert")]

        # the same delta again: nothing changes, nothing audited, nothing in the change feed
        r = await c.post("/v1/institutions/CD0101/sync/oneroster", content=zip_of(delta), headers=school | {"content-type": "application/zip"})
        job = await wait_job(c, r.json()["id"], school)
        assert job["status"] == "succeeded" and job["created"] == job["updated"] == job["rejected"] == 0, job
        g2, audits2 = await stored()
        assert (g2.components, str(g2.score), g2.version, len(audits2)) == (g.components, "7.8", 2, 2)
        assert (await c.get("/v1/changes", params={"since": changes["latest_version"]}, headers=school)).json()["items"] == []

        # a delta result for a grade that was never stored still needs every component
        fresh = dict(delta, **{"results.csv": results_header + "r9,active,,li1,u1,fully graded,5,,,\n",
                               "classes.csv": files["classes.csv"] + f"cl2,active,,Lớp M2,,c2,,scheduled,,org1,{term},,,\n",
                               "courses.csv": files["courses.csv"] + f"c2,active,,,Cơ sở dữ liệu,M2,,org1,,,{p},2\n",
                               "lineItems.csv": files["lineItems.csv"] + "li3,active,,Thường xuyên,,,,cl2,,,0,10,continuous\n"})
        fresh["results.csv"] = results_header + "r9,active,,li3,u1,fully graded,5,,,\n"
        r = await c.post("/v1/institutions/CD0101/sync/oneroster", params={"mode": "accept_valid"}, content=zip_of(fresh),
                         headers=school | {"content-type": "application/zip"})
        job = await wait_job(c, r.json()["id"], school)
        assert job["status"] == "completed_with_errors", job
        assert [(e["source"], e["field"]) for e in await errors_of(c, job, school)] == [("results.csv", "components.final")]


async def test_oneroster_users_keep_what_only_other_syncs_carry(platform: Platform) -> None:
    """A OneRoster users row has no ethnicity or disability: syncing it updates the learner code but keeps what a JSON
    sync recorded; a JSON row that sends ``ethnicity: null`` clears it."""
    from sqlalchemy import select

    from services.records.models import Learner

    school = await platform.school_headers()
    p, k = code("CNTT"), code("K")
    a = id_number()
    async with platform.client("records") as c:
        first = world(p, code("HK"), k, [learner(a, "Lò Văn Sáng", p, k, ethnicity="Thái", disability=True)], [])
        await run_ok(c, school, first)
        term = code("or-term")
        files = {
            "manifest.csv": manifest("bulk", ("orgs", "academicSessions", "users")),
            "orgs.csv": "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\norg1,active,,Trường demo,school,CD0101,\n",
            "academicSessions.csv": f"sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear\n{term},active,,Học kỳ 1,term,2024-09-01,2025-01-15,,2025\n",
            "users.csv": f"sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password,userMasterIdentifier,resourceSourcedIds,preferredGivenName,preferredMiddleName,preferredFamilyName,primaryOrgSourcedId,pronouns,roles\nu1,active,,true,a,,Sáng,Lò,Văn,SV9,,,,,,,{a},,,,,org1,,student\n",
        }
        r = await c.post("/v1/institutions/CD0101/sync/oneroster", content=zip_of(files), headers=school | {"content-type": "application/zip"})
        assert r.status_code == 202, r.text
        job = await wait_job(c, r.json()["id"], school)
        assert job["status"] == "succeeded", (job, await errors_of(c, job, school))

        async def stored() -> Learner:
            async with platform.apps["records"].state.db.session(write=False) as s:
                return (await s.scalars(select(Learner).where(Learner.institution_code == "CD0101", Learner.id_number == a))).one()

        row = await stored()
        assert (row.full_name, row.learner_code) == ("Lò Văn Sáng", "SV9")  # the school's code for him, new
        assert (row.ethnicity, row.ethnic_minority, row.disability) == ("Thái", True, True)

        cleared = {"learners": [{"id_number": a, "full_name": "Lò Văn Sáng", "ethnicity": None}]}
        await run_ok(c, school, cleared)
        row = await stored()
        assert (row.ethnicity, row.ethnic_minority, row.disability) == (None, False, True)


RESULTS_HEAD = "sourcedId,status,dateLastModified,lineItemSourcedId,studentSourcedId,scoreStatus,score,textScore,scoreDate,comment\n"


def roster(p: str, term: str, x: str, people: list[tuple[str, str]], results: str) -> dict[str, str]:
    """A bulk zip whose sourcedIds all begin with ``x`` (unique to the test): one course in programme ``p``, one
    class in ``term``, line items ``{x}li1`` (continuous) and ``{x}li2`` (final), users ``{x}u1``… for ``people``
    ((ID number, given name)), each enrolled in the class."""
    users = "".join(f"{x}u{i},active,,true,u{i},,{given},Nguyễn,Văn,SV{i},,,,,,,{number},,,,,org1,,student\n"
                    for i, (number, given) in enumerate(people, start=1))
    enrollments = "".join(f"{x}e{i},active,,{x}cl1,org1,{x}u{i},student,,2024-09-05,\n" for i in range(1, len(people) + 1))
    return {
        "manifest.csv": manifest("bulk"),
        "orgs.csv": "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\norg1,active,,Trường demo,school,CD0101,\n",
        "academicSessions.csv": f"sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear\n{term},active,,Học kỳ 1,term,2024-09-01,2025-01-15,,2025\n",
        "courses.csv": f"sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,orgSourcedId,subjects,subjectCodes,metadata.vn.programmeCode,metadata.vn.credits\n{x}c1,active,,,Lập trình cơ bản,M1,,org1,,,{p},3\n",
        "classes.csv": f"sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods\n{x}cl1,active,,Lớp M1,,{x}c1,,scheduled,,org1,{term},,,\n",
        "users.csv": "sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password,userMasterIdentifier,resourceSourcedIds,preferredGivenName,preferredMiddleName,preferredFamilyName,primaryOrgSourcedId,pronouns,roles\n" + users,
        "enrollments.csv": "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate\n" + enrollments,
        "lineItems.csv": f"sourcedId,status,dateLastModified,title,description,assignDate,dueDate,classSourcedId,categorySourcedId,gradingPeriodSourcedId,resultValueMin,resultValueMax,metadata.vn.component\n{x}li1,active,,Thường xuyên,,,,{x}cl1,,,0,10,continuous\n{x}li2,active,,Thi kết thúc,,,,{x}cl1,,,0,10,final\n",
        "results.csv": RESULTS_HEAD + results,
    }


async def post_zip(c: Any, headers: dict[str, str], files: dict[str, str], mode: str = "all_or_nothing", institution: str = "CD0101") -> dict[str, Any]:
    r = await c.post(f"/v1/institutions/{institution}/sync/oneroster", params={"mode": mode}, content=zip_of(files),
                     headers=headers | {"content-type": "application/zip"})
    assert r.status_code == 202, r.text
    return await wait_job(c, r.json()["id"], headers)


async def test_delta_carries_only_what_changed(platform: Platform) -> None:
    """A delta zip with only ``manifest.csv`` and ``results.csv`` (a changed score; a ``tobedeleted`` result that
    carries nothing but its sourcedId): the users, line items, classes and courses it names come from what records
    remembered of the bulk zip. Replaying it changes nothing. A delta adding a student (users and enrollments only,
    its class and line items remembered) works too."""
    school = await platform.school_headers()
    p, x, term = code("CNTT"), code("x") + "-", code("or-term")
    a, b, n = id_number(), id_number(century_gender=3), id_number()
    async with platform.client("records") as c:
        await run_ok(c, school, world(p, code("HK"), code("K"), [], []))
        bulk = roster(p, term, x, [(a, "An"), (b, "Bình")],
                      f"{x}r1,active,,{x}li1,{x}u1,fully graded,8,,,\n{x}r2,active,,{x}li2,{x}u1,fully graded,9,,,\n"
                      f"{x}r3,active,,{x}li1,{x}u2,fully graded,5,,,\n{x}r4,active,,{x}li2,{x}u2,fully graded,6,,,\n")
        job = await post_zip(c, school, bulk)
        # term, learners, enrolments, grades (module M1 is in the programme already, unchanged)
        assert job["status"] == "succeeded" and job["created"] == 1 + 2 + 2 + 2, (job, await errors_of(c, job, school))
        assert job["rows_total"] == job["rows_read"] == 8, job  # the class and line items remembered count as no row

        async def transcript(number: str) -> list[tuple[str, dict[str, str], str]]:
            r = await c.get("/v1/institutions/CD0101/learners", params={"limit": 500}, headers=school)
            mine = next(x for x in r.json()["items"] if x["enrolments"] and x["enrolments"][0]["programme_code"] == p and x["id_number"].endswith(number[-3:]) and x["full_name"].startswith("Nguyễn Văn"))
            sittings = (await c.get(mine["enrolments"][0]["transcript_url"], headers=school)).json()["sittings"]
            return [(s["module_code"], s["components"], s["score"]) for s in sittings]

        assert await transcript(a) == [("M1", {"continuous": "8", "final": "9"}, "8.6")]
        since = (await c.get("/v1/changes", headers=school)).json()["latest_version"]
        delta = {"manifest.csv": manifest("delta", ("results",)),
                 "results.csv": RESULTS_HEAD + f"{x}r1,active,2025-02-01,{x}li1,{x}u1,fully graded,10,,,\n{x}r3,tobedeleted,2025-02-01,,,,,,,\n"}
        job = await post_zip(c, school, delta)
        assert job["status"] == "succeeded" and job["processing"] == "delta", (job, await errors_of(c, job, school))
        assert (job["rows_total"], job["created"], job["updated"], job["rejected"]) == (2, 0, 2, 0), job  # one changed, one deleted
        assert await transcript(a) == [("M1", {"continuous": "10", "final": "9"}, "9.4")]  # 0.4×10 + 0.6×9
        assert await transcript(b) == []
        feed = (await c.get("/v1/changes", params={"since": since}, headers=school)).json()
        assert sorted((i["entity"], i["operation"], i["key"]["id_number"]) for i in feed["items"]) == [("grade", "delete", b), ("grade", "upsert", a)]

        # replay: nothing changes, nothing in the change feed
        job = await post_zip(c, school, delta)
        assert job["status"] == "succeeded" and job["created"] == job["updated"] == job["rejected"] == 0, (job, await errors_of(c, job, school))
        assert (await c.get("/v1/changes", params={"since": feed["latest_version"]}, headers=school)).json()["items"] == []

        # a new student: users and enrollments and results only; the class and line items are remembered
        more = {"manifest.csv": manifest("delta", ("users", "enrollments", "results")),
                "users.csv": bulk["users.csv"].splitlines()[0] + f"\n{x}u3,active,,true,u3,,Cường,Nguyễn,Văn,SV3,,,,,,,{n},,,,,org1,,student\n",
                "enrollments.csv": bulk["enrollments.csv"].splitlines()[0] + f"\n{x}e3,active,,{x}cl1,org1,{x}u3,student,,2025-02-01,\n",
                "results.csv": RESULTS_HEAD + f"{x}r5,active,,{x}li1,{x}u3,fully graded,7,,,\n{x}r6,active,,{x}li2,{x}u3,fully graded,7,,,\n"}
        job = await post_zip(c, school, more)
        assert job["status"] == "succeeded" and job["created"] == 3, (job, await errors_of(c, job, school))
        assert await transcript(n) == [("M1", {"continuous": "7", "final": "7"}, "7")]


async def test_delta_naming_unknown_sourced_ids(platform: Platform) -> None:
    """A delta row naming a sourcedId neither the zip nor records knows is a row error naming the field; in
    all_or_nothing nothing of the delta is applied. Another institution's sourcedIds are never used."""
    school, admin = await platform.school_headers(), await platform.admin_headers()
    p, x, term = code("CNTT"), code("x") + "-", code("or-term")
    a = id_number()
    async with platform.client("records") as c:
        await run_ok(c, school, world(p, code("HK"), code("K"), [], []))
        job = await post_zip(c, school, roster(p, term, x, [(a, "An")], f"{x}r1,active,,{x}li1,{x}u1,fully graded,8,,,\n{x}r2,active,,{x}li2,{x}u1,fully graded,9,,,\n"))
        assert job["status"] == "succeeded", (job, await errors_of(c, job, school))
        since = (await c.get("/v1/changes", headers=school)).json()["latest_version"]
        delta = {"manifest.csv": manifest("delta", ("results", "enrollments")),
                 "enrollments.csv": "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate\n"
                                    f"{x}e1,tobedeleted,2025-02-01,,,,student,,,\n{x}e9,tobedeleted,2025-02-01,,,,student,,,\n",
                 "results.csv": RESULTS_HEAD + f"{x}r1,active,,{x}li1,{x}u1,fully graded,10,,,\n{x}r9,active,,{x}li9,{x}u1,fully graded,1,,,\n"
                                               f"{x}r8,active,,{x}li2,{x}u9,fully graded,1,,,\n{x}r7,tobedeleted,2025-02-01,,,,,,,\n"}
        job = await post_zip(c, school, delta)
        assert job["status"] == "failed", job
        assert sorted((e["source"], e["row"], e["field"], e["message"]) for e in await errors_of(c, job, school)) == [
            ("enrollments.csv", 3, "sourcedId", f"unknown enrollment {x}e9"),
            ("results.csv", 3, "lineItemSourcedId", f"unknown lineItem {x}li9"),
            ("results.csv", 4, "studentSourcedId", f"unknown user {x}u9"),
            ("results.csv", 5, "sourcedId", f"unknown result {x}r7"),
        ]
        assert (await c.get("/v1/changes", params={"since": since}, headers=school)).json()["items"] == []  # r1 not applied
        # accept_valid: the known rows apply, the unknown ones are reported
        job = await post_zip(c, school, delta, mode="accept_valid")
        assert (job["status"], job["updated"], job["rejected"]) == ("completed_with_errors", 1, 4), job

        # the same ids sent for another institution resolve to nothing there
        foreign = {"manifest.csv": manifest("delta", ("results",)),
                   "results.csv": RESULTS_HEAD + f"{x}r1,active,,{x}li1,{x}u1,fully graded,3,,,\n{x}r2,tobedeleted,,,,,,,,\n"}
        job = await post_zip(c, admin, foreign, institution="TC7901")
        assert job["status"] == "failed", job
        assert [(e["row"], e["field"], e["message"]) for e in await errors_of(c, job, admin)] == [
            (2, "lineItemSourcedId", f"unknown lineItem {x}li1"), (3, "sourcedId", f"unknown result {x}r2")]


async def test_delta_after_an_id_number_correction(platform: Platform) -> None:
    """A learner's personal ID number corrected after the bulk zip: a delta naming the learner's OneRoster user
    (not carried) reaches the learner under the new number."""
    school = await platform.school_headers()
    p, x, term = code("CNTT"), code("x") + "-", code("or-term")
    wrong, right = id_number(), id_number()
    async with platform.client("records") as c:
        await run_ok(c, school, world(p, code("HK"), code("K"), [], []))
        job = await post_zip(c, school, roster(p, term, x, [(wrong, "Sửa")], f"{x}r1,active,,{x}li1,{x}u1,fully graded,6,,,\n{x}r2,active,,{x}li2,{x}u1,fully graded,7,,,\n"))
        assert job["status"] == "succeeded", (job, await errors_of(c, job, school))
        items = (await c.get("/v1/institutions/CD0101/learners", params={"limit": 500}, headers=school)).json()["items"]
        mine = next(i for i in items if i["full_name"] == "Nguyễn Văn Sửa" and i["enrolments"][0]["programme_code"] == p)
        r = await c.post(f"/v1/learners/{mine['id']}/id-number", json={"id_number": right, "reason": "nhập sai số định danh"}, headers=school)
        assert r.status_code == 200, r.text
        since = (await c.get("/v1/changes", headers=school)).json()["latest_version"]
        delta = {"manifest.csv": manifest("delta", ("results",)), "results.csv": RESULTS_HEAD + f"{x}r2,active,,{x}li2,{x}u1,fully graded,9,,,\n"}
        job = await post_zip(c, school, delta)
        assert (job["status"], job["updated"]) == ("succeeded", 1), (job, await errors_of(c, job, school))
        feed = (await c.get("/v1/changes", params={"since": since}, headers=school)).json()["items"]
        assert [(i["entity"], i["key"]["id_number"]) for i in feed] == [("grade", right)]


async def test_sourced_ids_are_remembered_with_their_rows(platform: Platform) -> None:
    """A sourcedId is remembered in the transaction of the row it gave: an all_or_nothing zip with a broken row
    leaves none behind; in accept_valid the rejected row's ids are not remembered, the applied rows' are."""
    from sqlalchemy import select

    from services.records.models import OneRosterId

    school = await platform.school_headers()
    p, x, term = code("CNTT"), code("x") + "-", code("or-term")
    a, b = id_number(), id_number(century_gender=3)
    zipped = roster(p, term, x, [(a, "An"), (b, "Bình")],
                    f"{x}r1,active,,{x}li1,{x}u1,fully graded,8,,,\n{x}r2,active,,{x}li2,{x}u1,fully graded,9,,,\n"
                    f"{x}r3,active,,{x}li1,{x}u2,fully graded,5,,,\n{x}r4,active,,{x}li2,{x}u2,fully graded,11,,,\n")

    async def remembered() -> dict[tuple[str, str], str]:
        async with platform.apps["records"].state.db.session(write=False) as s:
            rows = (await s.execute(select(OneRosterId.kind, OneRosterId.sourced_id, OneRosterId.natural_key, OneRosterId.institution_code)
                                    .where(OneRosterId.sourced_id.startswith(x)))).all()
        assert {r.institution_code for r in rows} <= {"CD0101"}
        return {(r.kind, r.sourced_id): r.natural_key for r in rows}

    async with platform.client("records") as c:
        await run_ok(c, school, world(p, code("HK"), code("K"), [], []))
        job = await post_zip(c, school, zipped)
        assert job["status"] == "failed" and job["rejected"] == 1, job
        assert await remembered() == {}
        job = await post_zip(c, school, zipped, mode="accept_valid")
        assert (job["status"], job["rejected"]) == ("completed_with_errors", 1), job
        ids = await remembered()
        assert sorted(ids) == sorted([("courses", f"{x}c1"), ("classes", f"{x}cl1"), ("users", f"{x}u1"), ("users", f"{x}u2"),
                                      ("enrollments", f"{x}e1"), ("enrollments", f"{x}e2"), ("lineItems", f"{x}li1"), ("lineItems", f"{x}li2"),
                                      ("results", f"{x}r1"), ("results", f"{x}r2")])  # not r3, r4: their grade was rejected
        assert ids[("users", f"{x}u2")] == f'{{"id_number":"{b}"}}'
        assert ids[("lineItems", f"{x}li2")] == f'{{"component":"final","module_code":"M1","programme_code":"{p}","term_code":"{term}"}}'
