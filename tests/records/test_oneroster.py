"""OneRoster 1.2 CSV zip: bulk import, then a delta that changes one result and deletes another; another
institution's org refused."""

from __future__ import annotations

import io
import zipfile

from tests.records.helpers import code, errors_of, id_number, run_json, wait_job, world
from tests.support import Platform


def zip_of(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


def manifest(mode: str) -> str:
    rows = ["propertyName,value", "manifest.version,1.0", "oneroster.version,1.2"]
    rows += [f"file.{n},{mode}" for n in ("orgs", "academicSessions", "courses", "classes", "users", "enrollments", "lineItems", "results")]
    return "\n".join(rows) + "\n"


async def test_bulk_then_delta(platform: Platform) -> None:
    school = await platform.school_headers()
    p, k = code("CNTT"), code("K")
    a, b = id_number(), id_number(century_gender=3)
    async with platform.client("records") as c:
        assert (await run_json(c, school, world(p, code("HK"), k, [], [])))["status"] == "succeeded"
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
