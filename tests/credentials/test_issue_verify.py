"""Issuing a diploma and verifying it: round trip, tampering, idempotency, authorisation, bad input."""

from __future__ import annotations

import copy
import uuid

import pytest

from tests.credentials.factories import check, diploma, issue, verify
from tests.support import Platform

#: no call to identity (or another service) while a write transaction is open: services.common.testing.WriteTransactions
pytestmark = pytest.mark.usefixtures("no_calls_in_write_transactions")


async def test_issue_and_verify_round_trip(platform: Platform) -> None:
    cred = await issue(platform)
    doc = cred["document"]
    assert doc["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert doc["proof"]["cryptosuite"] == "eddsa-rdfc-2022" and doc["proof"]["proofValue"].startswith("z")
    assert doc["credentialSubject"]["name"] == "Trần Văn Minh"
    assert doc["credentialSubject"]["achievement"]["achievementType"] == "Diploma"
    identity = doc["credentialSubject"]["identifier"][0]
    assert identity["identityHash"].startswith("sha256$") and "001203012345" not in str(doc)
    # one status entry, revocation (OB 3.0 allows one credentialStatus); suspension is kept by the platform
    assert isinstance(doc["credentialStatus"], dict) and doc["credentialStatus"]["statusPurpose"] == "revocation"
    assert doc["credentialStatus"]["type"] == "BitstringStatusListEntry"
    assert doc["issuer"]["id"] == "did:web:127.0.0.1%3A8000:issuers:CD0101"
    result = await verify(platform, doc)
    assert result["verified"] is True and result["outcome"] == "valid", result
    assert [c["check"] for c in result["checks"]] == ["structure", "issuer", "signature", "validity", "revocation", "suspension"]
    assert all(c["passed"] for c in result["checks"])  # suspension too: answered from the credential's record


def _tampered(doc: dict, path: list, value: object) -> dict:
    out = copy.deepcopy(doc)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


async def test_every_tamper_fails_the_signature_check(platform: Platform) -> None:
    doc = (await issue(platform))["document"]
    tampers = {
        "grade": _tampered(doc, ["credentialSubject", "classification"], "Xuất sắc"),
        "gpa": _tampered(doc, ["credentialSubject", "gpa"], "3.90"),
        "name": _tampered(doc, ["credentialSubject", "name"], "Trần Văn Mình"),
        "birth date": _tampered(doc, ["credentialSubject", "birthDate"], "2003-05-15"),
        "issue date": _tampered(doc, ["validFrom"], "2020-01-01T00:00:00Z"),
        "issuer name": _tampered(doc, ["issuer", "name"], "Trường Cao đẳng Giả mạo"),
        "proof value": _tampered(doc, ["proof", "proofValue"], doc["proof"]["proofValue"][:-2] + ("11" if not doc["proof"]["proofValue"].endswith("11") else "22")),
        "proof created": _tampered(doc, ["proof", "created"], "2020-01-01T00:00:00Z"),
    }
    for what, bad in tampers.items():
        result = await verify(platform, bad)
        assert result["outcome"] == "tampered", (what, result)
        sig = check(result, "signature")
        assert sig["passed"] is False and sig["problem"]["type"].endswith("/credential-tampered"), what
        assert sig["problem"]["status"] == 422 and sig["problem"]["title"]
    # another issuer (a DID the platform does not serve): unknown issuer, not a crash
    other = _tampered(doc, ["issuer", "id"], "did:web:example.org:issuers:X")
    assert (await verify(platform, other))["outcome"] == "unknown_issuer"
    # an undefined property would go unsigned: refused as malformed
    extra = _tampered(doc, ["credentialSubject", "bonusGrade"], "A")
    result = await verify(platform, extra)
    assert result["outcome"] == "malformed" and check(result, "structure")["problem"]["detail"].count("bonusGrade")
    # a context that is not bundled is never fetched
    remote = _tampered(doc, ["@context"], doc["@context"] + ["https://example.org/ctx.jsonld"])
    assert (await verify(platform, remote))["outcome"] == "malformed"


async def test_issuing_is_idempotent_on_the_natural_key(platform: Platform) -> None:
    body = diploma()
    headers = await platform.school_headers()
    async with platform.client("credentials") as c:
        first = await c.post("/v1/credentials", json=body, headers=headers)
        again = await c.post("/v1/credentials", json=body, headers=headers)
        keyed = await c.post("/v1/credentials", json=body, headers=headers | {"Idempotency-Key": "k-" + uuid.uuid4().hex})
        changed = await c.post("/v1/credentials", json=body | {"graduation": body["graduation"] | {"gpa": "3.50", "classification": "excellent"}},
                               headers=headers)
        listed = await c.get("/v1/credentials", params={"institution": "CD0101", "limit": 500}, headers=headers)
    assert first.status_code == 201 and again.status_code == 200 and keyed.status_code == 200
    assert first.json()["id"] == again.json()["id"] == keyed.json()["id"]
    assert changed.status_code == 409 and changed.headers["content-type"].startswith("application/problem+json")
    assert changed.json()["credential_id"] == first.json()["id"]
    assert [i["id"] for i in listed.json()["items"]].count(first.json()["id"]) == 1


async def test_register_numbers_are_unique_per_institution_and_year(platform: Platform) -> None:
    number = f"R{uuid.uuid4().hex[:6]}/2026"
    first = await issue(platform, diploma(register_number=number, issue_date="2026-07-15"))
    assert first["register_number"] == number and first["document"]["registerNumber"] == number
    async with platform.client("credentials") as c:
        clash = await c.post("/v1/credentials", json=diploma(register_number=number, issue_date="2026-08-01"), headers=await platform.school_headers())
        next_year = await c.post("/v1/credentials", json=diploma(register_number=number, issue_date="2027-01-10"), headers=await platform.school_headers())
    assert clash.status_code == 409 and clash.json()["errors"][0]["field"] == "register_number"
    assert next_year.status_code == 201
    auto = await issue(platform)
    assert auto["register_number"].endswith("/" + auto["document"]["issueDate"][:4])


async def test_bad_input_is_a_problem_naming_the_field(platform: Platform) -> None:
    headers = await platform.school_headers()
    async with platform.client("credentials") as c:
        missing = await c.post("/v1/credentials", json=diploma(holder={"full_name": ""}), headers=headers)
        level = await c.post("/v1/credentials", json=diploma(level="elementary"), headers=headers)
        occupation = await c.post("/v1/credentials", json=diploma(achievement={"occupation_code": "5480201"}), headers=headers)
        id_number = await c.post("/v1/credentials", json=diploma(holder={"id_number": "12345"}), headers=headers)
        no_learner = await c.post("/v1/credentials", json=diploma(person_id=None, learner_id=None), headers=headers)
    for r, field in ((missing, "holder.full_name"), (level, "level"), (occupation, "achievement.occupation_code"),
                     (id_number, "holder.id_number"), (no_learner, "person_id")):
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert field in [e["field"] for e in r.json()["errors"]], (field, r.json())


async def test_a_school_issues_only_for_itself(platform: Platform) -> None:
    headers = await platform.school_headers()
    employer = {"Authorization": f"Bearer {await platform.token('demo-employer', 'dev-only-demo-employer-secret')}"}
    async with platform.client("credentials") as c:
        other = await c.post("/v1/credentials", json=diploma(institution_code="TC7901", level="intermediate",
                                                             achievement={"code": "5340301", "occupation_code": "5340301"}), headers=headers)
        no_scope = await c.post("/v1/credentials", json=diploma(), headers=employer)
        anonymous = await c.post("/v1/credentials", json=diploma())
        other_list = await c.get("/v1/credentials", params={"institution": "TC7901"}, headers=headers)
        admin = await c.post("/v1/credentials", json=diploma(institution_code="TC7901", level="intermediate",
                                                             achievement={"code": "5340301", "occupation_code": "5340301"}),
                             headers=await platform.admin_headers())
        unknown = await c.post("/v1/credentials", json=diploma(institution_code="ZZ9999"), headers=await platform.admin_headers())
    assert other.status_code == 403 and no_scope.status_code == 403 and anonymous.status_code == 401
    assert other_list.status_code == 403
    assert admin.status_code == 201, admin.text
    assert admin.json()["issuer_did"].endswith(":issuers:TC7901")
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "institution_code"
    async with platform.client("credentials") as c:
        revoke_other = await c.post(f"/v1/credentials/{admin.json()['id']}/revoke", json={"reason": "x"}, headers=headers)
        read_other = await c.get(f"/v1/credentials/{admin.json()['id']}", headers=headers)
    assert revoke_other.status_code == 403 and read_other.status_code == 404


async def test_a_learner_sees_only_their_own_credentials(platform: Platform) -> None:
    async with platform.client("identity") as c:
        login = await c.post("/v1/auth/login", json={"username": "student.demo", "password": "dev-only-Student#2026"})
        token = login.json()["access_token"]
        me = await c.get("/v1/accounts/me", headers={"Authorization": f"Bearer {token}"})
    student = {"Authorization": f"Bearer {token}"}
    mine = await issue(platform, diploma(person_id=me.json()["person_id"]))
    theirs = await issue(platform)
    async with platform.client("credentials") as c:
        listed = await c.get("/v1/credentials", headers=student)
        own = await c.get(f"/v1/credentials/{mine['id']}", headers=student)
        download = await c.get(f"/v1/credentials/{mine['id']}/document", headers=student)
        other = await c.get(f"/v1/credentials/{theirs['id']}", headers=student)
        institution = await c.get("/v1/credentials", params={"institution": "CD0101"}, headers=student)
    ids = {i["id"] for i in listed.json()["items"]}
    assert mine["id"] in ids and theirs["id"] not in ids
    assert own.status_code == 200 and own.json()["document"]["proof"]
    assert download.status_code == 200 and download.headers["content-type"].startswith("application/vc+ld+json")
    assert download.json() == mine["document"]
    assert other.status_code == 404 and institution.status_code == 403


async def test_every_verification_is_logged_without_personal_data(platform: Platform) -> None:
    from sqlalchemy import select

    from services.credentials.models import VerificationLog

    cred = await issue(platform)
    doc = cred["document"]
    tampered = _tampered(doc, ["credentialSubject", "name"], "Trần Văn Mình")
    async with platform.client("credentials") as c:
        for body in (doc, tampered):
            r = await c.post("/v1/verify", json=body, headers={"X-Request-ID": "log-" + cred["id"]})
            assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
        await c.get(f"/v1/verify/{cred['id']}")
    await platform.apps["credentials"].state.credentials.verification_log.flush()  # rows are written in batches
    async with platform.apps["credentials"].state.db.session(write=False) as s:
        rows = (await s.scalars(select(VerificationLog).where(VerificationLog.credential_id == uuid.UUID(cred["id"]))
                                .order_by(VerificationLog.at))).all()
    assert [(r.channel, r.outcome) for r in rows] == [("public", "valid"), ("public", "tampered"), ("lookup", "valid")]
    assert rows[0].request_id == "log-" + cred["id"] and rows[0].issuer == doc["issuer"]["id"]
    assert rows[1].checks["signature"] is False and rows[0].checks["signature"] is True
    for row in rows:
        stored = str([row.channel, row.client_id, row.issuer, row.outcome, row.checks, row.request_id])
        assert "Trần" not in stored and doc["credentialSubject"]["birthDate"] not in stored


async def test_the_institution_list_pages_newest_first_by_cursor_with_a_status_filter(platform: Platform) -> None:
    """Keyset pages of an institution's credentials: every credential exactly once, newest first, the status filter
    applied on every page, a cursor that is not one refused naming the field."""
    headers = await platform.school_headers()
    issued = [(await issue(platform))["id"] for _ in range(5)]
    async with platform.client("credentials") as c:
        revoked = await c.post(f"/v1/credentials/{issued[1]}/revoke", json={"reason": "Cấp nhầm"}, headers=headers)
        assert revoked.status_code == 200, revoked.text

        async def every(**params: object) -> list[dict]:
            items, cursor = [], None
            while True:
                r = await c.get("/v1/credentials", params={"institution": "CD0101", "limit": 2} | params
                                | ({"cursor": cursor} if cursor else {}), headers=headers)
                assert r.status_code == 200, r.text
                body = r.json()
                assert len(body["items"]) <= 2
                items += body["items"]
                cursor = body["next_cursor"]
                if cursor is None:
                    return items

        everything = await every()
        only_revoked = await every(status="revoked")
        bad = await c.get("/v1/credentials", params={"institution": "CD0101", "cursor": "bm90LWEtY3Vyc29y"}, headers=headers)
    ids = [i["id"] for i in everything]
    assert len(ids) == len(set(ids)) and set(issued) <= set(ids)
    assert [i for i in ids if i in issued] == issued[::-1]  # newest first
    assert all({"id", "title", "holder_name", "status", "issued_at"} <= set(i) and "document" not in i for i in everything)
    assert issued[1] in {i["id"] for i in only_revoked} and {i["status"] for i in only_revoked} == {"revoked"}
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"
