"""Status: revoke, suspend, unsuspend seen by the verifier through the served (signed) status lists; the list
itself; correction chains; key rotation; the DID document; unknown issuers; bulk verification; the QR page."""

from __future__ import annotations

import base64
import gzip
import uuid
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.credentials.proofs import dataintegrity
from services.credentials.proofs.multibase import ed25519_multikey
from tests.credentials.factories import check, diploma, issue, verify
from tests.support import Platform

#: no call to identity (or another service) while a write transaction is open: services.common.testing.WriteTransactions
pytestmark = pytest.mark.usefixtures("no_calls_in_write_transactions")


def _bit(list_doc: dict, index: int) -> bool:
    encoded = list_doc["credentialSubject"]["encodedList"]
    assert encoded.startswith("u")
    bits = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    assert len(bits) * 8 >= 131_072
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


async def _served_list(platform: Platform, url: str) -> dict:
    path = url.split("/api/credentials", 1)[1]
    async with platform.client("credentials") as c:
        r = await c.get(path)
    assert r.status_code == 200 and "max-age" in r.headers["cache-control"] and r.headers["etag"]
    return r.json()


async def _suspension_entry(platform: Platform, credential_id: str) -> dict:
    """The credential's suspension entry as its record keeps it (the document names only the revocation entry)."""
    from services.credentials.models import Credential

    app = platform.apps["credentials"]
    async with app.state.db.session(write=False) as s:
        row = await s.get(Credential, uuid.UUID(credential_id))
    assert row is not None
    return {"statusListCredential": app.state.credentials.status_list_url(row.suspension_list_id),
            "statusListIndex": str(row.suspension_index)}


async def test_revoke_suspend_unsuspend_through_the_served_status_lists(platform: Platform) -> None:
    cred = await issue(platform)
    doc, cid = cred["document"], cred["id"]
    assert doc["credentialStatus"]["statusPurpose"] == "revocation"
    headers = await platform.school_headers()
    suspension = await _suspension_entry(platform, cid)

    async with platform.client("credentials") as c:
        suspended = await c.post(f"/v1/credentials/{cid}/suspend", json={"reason": "Đang xác minh hồ sơ"}, headers=headers)
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    served = await _served_list(platform, suspension["statusListCredential"])
    assert _bit(served, int(suspension["statusListIndex"]))
    assert (await verify(platform, served))["outcome"] == "valid"  # the list is itself a signed credential
    # the document names only its revocation entry: the platform answers "suspended" from the credential's record
    result = await verify(platform, doc)
    assert result["outcome"] == "suspended" and not result["verified"]
    assert check(result, "suspension")["problem"]["type"].endswith("/credential-suspended")
    assert check(result, "revocation")["passed"] is True

    async with platform.client("credentials") as c:
        lifted = await c.post(f"/v1/credentials/{cid}/unsuspend", json={"reason": "Hồ sơ hợp lệ"}, headers=headers)
    assert lifted.json()["status"] == "active"
    assert not _bit(await _served_list(platform, suspension["statusListCredential"]), int(suspension["statusListIndex"]))
    assert (await verify(platform, doc))["outcome"] == "valid"

    async with platform.client("credentials") as c:
        revoked = await c.post(f"/v1/credentials/{cid}/revoke", json={"reason": "Cấp sai đối tượng"}, headers=headers)
        again = await c.post(f"/v1/credentials/{cid}/revoke", json={"reason": "Cấp sai đối tượng"}, headers=headers)
        resuspend = await c.post(f"/v1/credentials/{cid}/suspend", json={"reason": "x"}, headers=headers)
        empty_reason = await c.post(f"/v1/credentials/{cid}/revoke", json={"reason": ""}, headers=headers)
        still_there = await c.get(f"/v1/credentials/{cid}", headers=headers)
    assert revoked.json()["status"] == "revoked" and again.status_code == 200
    assert resuspend.status_code == 409
    assert empty_reason.status_code == 422 and empty_reason.json()["errors"][0]["field"] == "reason"
    assert still_there.status_code == 200 and still_there.json()["status_reason"] == "Cấp sai đối tượng"  # never deleted
    result = await verify(platform, doc)
    assert result["outcome"] == "revoked"
    assert check(result, "revocation")["problem"]["type"].endswith("/credential-revoked")


async def test_status_list_caching_headers_and_random_indexes(platform: Platform) -> None:
    docs = [(await issue(platform))["document"] for _ in range(3)]
    indexes = [int(d["credentialStatus"]["statusListIndex"]) for d in docs]
    assert len(set(indexes)) == 3 and max(indexes) - min(indexes) > 3  # random, not consecutive
    url = docs[0]["credentialStatus"]["statusListCredential"]
    path = url.split("/api/credentials", 1)[1]
    async with platform.client("credentials") as c:
        first = await c.get(path)
        cached = await c.get(path, headers={"If-None-Match": first.headers["etag"]})
        missing = await c.get(f"/v1/status-lists/{uuid.uuid4()}")
    assert first.status_code == 200 and first.headers["content-type"].startswith("application/vc+ld+json")
    assert first.headers["cache-control"].startswith("public, max-age=")
    assert cached.status_code == 304
    assert missing.status_code == 404
    body = first.json()
    assert body["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert body["credentialSubject"]["type"] == "BitstringStatusList" and body["issuer"] == docs[0]["issuer"]["id"]


async def test_correction_chain_links_both_ways(platform: Platform) -> None:
    old = await issue(platform, diploma(holder={"full_name": "Trần Van Minh"}))
    headers = await platform.school_headers()
    async with platform.client("credentials") as c:
        r = await c.post(f"/v1/credentials/{old['id']}/reissue",
                         json={"reason": "Sai chính tả họ tên", "holder": {"full_name": "Trần Văn Minh", "id_number": "001203012345"}},
                         headers=headers)
        old_now = await c.get(f"/v1/credentials/{old['id']}", headers=headers)
        twice = await c.post(f"/v1/credentials/{old['id']}/reissue", json={"reason": "again"}, headers=headers)
        bad_key = await c.post(f"/v1/credentials/{r.json()['id']}/reissue",
                               json={"reason": "x", "graduation": {"year": 2025}}, headers=headers)
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["revision"] == 2 and new["supersedes"] == old["id"]
    assert new["document"]["supersedes"] == f"urn:uuid:{old['id']}"
    assert new["document"]["credentialSubject"]["name"] == "Trần Văn Minh"
    assert new["register_number"] == old["register_number"]
    assert old_now.json()["status"] == "revoked" and old_now.json()["superseded_by"] == new["id"]
    assert old_now.json()["status_reason"].startswith("superseded")
    assert twice.status_code == 409 and bad_key.status_code == 422
    old_result = await verify(platform, old["document"])
    assert old_result["outcome"] == "revoked" and old_result["superseded_by"] == new["id"]
    assert (await verify(platform, new["document"]))["outcome"] == "valid"
    # the original request retried after the correction finds the chain, not a new diploma
    async with platform.client("credentials") as c:
        listed = await c.get("/v1/credentials", params={"institution": "CD0101", "limit": 500}, headers=headers)
    assert sum(1 for i in listed.json()["items"] if i["id"] in (old["id"], new["id"])) == 2


async def test_key_rotation_keeps_old_credentials_verifiable(platform: Platform) -> None:
    before = await issue(platform)
    headers = await platform.school_headers()
    async with platform.client("credentials") as c:
        rotated = await c.post("/v1/issuers/CD0101/keys/rotate", headers=headers)
        refused = await c.post("/v1/issuers/TC7901/keys/rotate", headers=headers)
        did = await c.get("/issuers/CD0101/did.json")
        profile = await c.get("/v1/issuers/CD0101")
    assert rotated.status_code == 200 and refused.status_code in (403, 404)
    keys = rotated.json()["keys"]
    assert [k["status"] for k in keys][-1] == "active" and all(k["status"] == "retired" for k in keys[:-1])
    after = await issue(platform)
    assert after["document"]["proof"]["verificationMethod"].endswith("#" + keys[-1]["key_id"])
    assert before["document"]["proof"]["verificationMethod"] != after["document"]["proof"]["verificationMethod"]
    assert (await verify(platform, before["document"]))["outcome"] == "valid"
    assert (await verify(platform, after["document"]))["outcome"] == "valid"
    document = did.json()
    assert did.headers["content-type"].startswith("application/did+ld+json")
    assert document["id"] == "did:web:127.0.0.1%3A8000:issuers:CD0101"
    methods = {m["id"] for m in document["verificationMethod"]}
    assert {before["document"]["proof"]["verificationMethod"], after["document"]["proof"]["verificationMethod"]} <= methods
    assert document["currentSigningKey"] == after["document"]["proof"]["verificationMethod"]
    assert all(m["publicKeyMultibase"].startswith("z6Mk") for m in document["verificationMethod"])
    assert profile.json()["did"] == document["id"]


async def test_unknown_issuer_with_a_valid_signature(platform: Platform) -> None:
    key = Ed25519PrivateKey.generate()
    multikey = ed25519_multikey(key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    did = f"did:key:{multikey}"
    doc = dict((await issue(platform))["document"])
    doc.pop("proof")
    doc.pop("credentialStatus")
    doc["issuer"] = {"id": did, "type": ["Profile"], "name": "Trường không có trong danh mục"}
    signed = dataintegrity.sign(doc, key, f"{did}#{multikey}", created=datetime.now(UTC))
    result = await verify(platform, signed)
    assert result["outcome"] == "unknown_issuer" and result["issuer"]["known"] is False
    assert check(result, "signature")["passed"] is True
    assert check(result, "issuer")["problem"]["type"].endswith("/issuer-unknown")


async def test_bulk_verification_with_mixed_results(platform: Platform) -> None:
    good = (await issue(platform))["document"]
    revoked = await issue(platform)
    async with platform.client("credentials") as c:
        await c.post(f"/v1/credentials/{revoked['id']}/revoke", json={"reason": "Thu hồi"}, headers=await platform.school_headers())
    tampered = dict(good) | {"name": "Bằng giả"}
    employer = {"Authorization": f"Bearer {await platform.token('demo-employer', 'dev-only-demo-employer-secret')}"}
    batch = [good, revoked["document"], tampered, {"not": "a credential"}]
    async with platform.client("credentials") as c:
        r = await c.post("/v1/verify/bulk", json={"credentials": batch}, headers=employer)
        anonymous = await c.post("/v1/verify/bulk", json={"credentials": batch})
        school = await c.post("/v1/verify/bulk", json={"credentials": batch}, headers=await platform.school_headers())
        too_many = await c.post("/v1/verify/bulk", json={"credentials": [good] * 1001}, headers=employer)
    assert r.status_code == 200, r.text
    assert [x["outcome"] for x in r.json()["results"]] == ["valid", "revoked", "tampered", "malformed"]
    assert r.json()["summary"] == {"valid": 1, "revoked": 1, "tampered": 1, "malformed": 1}
    assert anonymous.status_code == 401 and school.status_code == 403
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["field"] == "credentials"


async def test_bulk_verification_reads_each_due_issuer_in_the_registry(platform: Platform) -> None:
    """Two issuers whose registry view is due in one bulk request: each is read from identity (a closed one is
    inactive), and never while the request's write transaction is open (the module's guard)."""
    from datetime import date, timedelta

    from services.credentials.issuers import service as issuers_service

    code = "CDB" + uuid.uuid4().hex[:8].upper()  # never a seeded code
    admin = await platform.admin_headers()
    async with platform.client("identity") as c:
        r = await c.post("/v1/institutions", json={"code": code, "name": "Trường Cao đẳng Đóng cửa", "type": "college",
                                                   "province_code": "001"}, headers=admin)
        assert r.status_code == 201, r.text
    closing = (await issue(platform, diploma(institution_code=code), admin))["document"]
    good = (await issue(platform))["document"]
    async with platform.client("identity") as c:
        closed_on = (date.today() - timedelta(days=400)).isoformat()
        r = await c.patch(f"/v1/institutions/{code}", json={"status": "closed", "closed_on": closed_on}, headers=admin)
        assert r.status_code == 200, r.text
    for due in (code, "CD0101"):
        issuers_service._registry_checked.pop(due, None)  # read again from the registry at the next verification
    employer = {"Authorization": f"Bearer {await platform.token('demo-employer', 'dev-only-demo-employer-secret')}"}
    async with platform.client("credentials") as c:
        r = await c.post("/v1/verify/bulk", json={"credentials": [closing, good]}, headers=employer)
    assert r.status_code == 200, r.text
    assert [x["outcome"] for x in r.json()["results"]] == ["issuer_inactive", "valid"]


async def test_verification_page_and_lookup_by_id(platform: Platform) -> None:
    cred = await issue(platform)
    async with platform.client("credentials") as c:
        as_json = await c.get(f"/v1/verify/{cred['id']}")
        as_html = await c.get(f"/v1/verify/{cred['id']}", headers={"Accept": "text/html"})
        unknown = await c.get(f"/v1/verify/{uuid.uuid4()}")
        garbage = await c.post("/v1/verify", content=b"{not json", headers={"content-type": "application/json"})
    assert as_json.status_code == 200 and as_json.json()["outcome"] == "valid"
    assert as_json.json()["credential"]["holder_name"] == "Trần Văn Minh"
    assert cred["verify_url"] == f"http://127.0.0.1:8000/verify/{cred['id']}"
    page = as_html.text
    assert as_html.headers["content-type"].startswith("text/html")
    assert "Trần Văn Minh" in page and "Hợp lệ" in page and "Valid" in page and "Bằng tốt nghiệp cao đẳng" in page
    assert unknown.status_code == 404 and unknown.headers["content-type"].startswith("application/problem+json")
    assert garbage.status_code == 422


async def test_issuer_must_be_active_in_the_registry_on_the_issue_date(platform: Platform) -> None:
    from datetime import date, timedelta

    from services.credentials.issuers import service as issuers_service

    code = "CDX" + uuid.uuid4().hex[:8].upper()  # never a seeded code (CD0101…)
    admin = await platform.admin_headers()
    async with platform.client("identity") as c:
        r = await c.post("/v1/institutions", json={"code": code, "name": "Trường Cao đẳng Thử nghiệm", "type": "college",
                                                   "province_code": "001"}, headers=admin)
        assert r.status_code == 201, r.text
    async with platform.client("credentials") as c:
        r = await c.post("/v1/credentials", json=diploma(institution_code=code), headers=admin)
        assert r.status_code == 201, r.text
    doc = r.json()["document"]
    assert (await verify(platform, doc))["outcome"] == "valid"

    async def close(on: date) -> dict:
        async with platform.client("identity") as c:
            r = await c.patch(f"/v1/institutions/{code}", json={"status": "closed", "closed_on": on.isoformat()}, headers=admin)
            assert r.status_code == 200, r.text
        issuers_service._registry_checked.pop(code, None)  # the registry is read again at the next verification
        return await verify(platform, doc)

    today = date.today()
    # closed after the diploma was issued: still valid; closed before: the issuer was not active on the issue date
    assert (await close(today + timedelta(days=2)))["outcome"] == "valid"
    result = await close(today - timedelta(days=400))
    assert result["outcome"] == "issuer_inactive" and result["verified"] is False
    assert check(result, "issuer")["problem"]["type"].endswith("/issuer-inactive")
    assert check(result, "signature")["passed"] is True


async def _signed_by_the_issuer(platform: Platform, code: str, doc: dict) -> dict:
    """``doc`` signed with the issuer's current key, as the platform would have issued it."""
    from services.credentials.issuers import repository as issuers_repo

    app = platform.apps["credentials"]
    async with app.state.db.session(write=False) as s:
        issuer = await issuers_repo.by_code(s, code)
        key = await issuers_repo.active_key(s, issuer.id)
    private = app.state.credentials.keys.private_key(code, key.key_id, key.sealed_private_key)
    unsigned = {k: v for k, v in doc.items() if k != "proof"}
    return dataintegrity.sign(unsigned, private, f"{issuer.did}#{key.key_id}", created=datetime.now(UTC))


async def test_validity_period_and_unreadable_status_are_distinct_outcomes(platform: Platform) -> None:
    from datetime import timedelta

    doc = (await issue(platform))["document"]
    expired = await _signed_by_the_issuer(platform, "CD0101", doc | {"validUntil": "2025-01-01T00:00:00Z"})
    future = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    not_yet = await _signed_by_the_issuer(platform, "CD0101", doc | {"validFrom": future})
    # a status entry naming a list the platform does not have: the status cannot be read, which is not "valid"
    missing_list = doc["credentialStatus"]["statusListCredential"].rsplit("/", 1)[0] + f"/{uuid.uuid4()}"
    entry = dict(doc["credentialStatus"], statusListCredential=missing_list, id=f"{missing_list}#5", statusListIndex="5")
    unreadable = await _signed_by_the_issuer(platform, "CD0101", doc | {"credentialStatus": entry})

    result = await verify(platform, expired)
    assert result["outcome"] == "expired" and check(result, "signature")["passed"] is True
    assert check(result, "validity")["problem"]["type"].endswith("/credential-expired")
    result = await verify(platform, not_yet)
    assert result["outcome"] == "not_yet_valid" and check(result, "validity")["problem"]["type"].endswith("/credential-not-yet-valid")
    result = await verify(platform, unreadable)
    assert result["outcome"] == "status_unavailable" and result["verified"] is False
    assert check(result, "signature")["passed"] is True and check(result, "suspension")["passed"] is True
    problem = check(result, "revocation")["problem"]
    assert problem["type"].endswith("/status-unavailable") and problem["status"] == 503


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_revocation_is_seen_at_once_by_the_verify_page_and_within_the_cache_window_by_status_lists(platform: Platform) -> None:
    """Two replicas of credentials on one database. The verify page (the QR code's target) answers from its last
    verification only while the credential's state is unchanged: a revocation shows on the next request on both.
    The status list is served from a short-lived copy: the replica that revoked drops it when the change commits;
    the other serves its copy at most ``public_cache_seconds`` more (the documents say max-age=300)."""
    import httpx

    from services.credentials.app import create_app

    cred = await issue(platform)
    cid, entry = cred["id"], cred["document"]["credentialStatus"]
    path, index = entry["statusListCredential"].split("/api/credentials", 1)[1], int(entry["statusListIndex"])
    settings = platform.settings["credentials"].model_copy(update={"jobs_enabled": False})
    replica = create_app(settings, http_transport=platform.transport)
    clock = _Clock()
    replica.state.public_cache.clock = clock
    as_json = {"Accept": "application/json"}
    async with replica.router.lifespan_context(replica), \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=replica), base_url="http://credentials") as other, \
            platform.client("credentials") as origin:
        for c in (origin, other):  # both replicas hold a copy of the list and a kept answer for the page
            assert not _bit((await c.get(path)).json(), index)
            for _ in range(2):
                page = await c.get(f"/v1/verify/{cid}", headers=as_json)
                assert page.status_code == 200 and page.json()["outcome"] == "valid"
        tag = (await origin.get(path)).headers["etag"]
        assert (await origin.get(path, headers={"If-None-Match": tag})).status_code == 304

        revoked = await origin.post(f"/v1/credentials/{cid}/revoke", json={"reason": "Cấp nhầm"}, headers=await platform.school_headers())
        assert revoked.status_code == 200, revoked.text

        for c in (origin, other):
            page = await c.get(f"/v1/verify/{cid}", headers=as_json)
            html = await c.get(f"/v1/verify/{cid}", headers={"Accept": "text/html"})
            assert page.json()["outcome"] == "revoked" and not page.json()["verified"]
            assert "Đã bị thu hồi" in html.text and "Cấp nhầm" in html.text
        served = await origin.get(path, headers={"If-None-Match": tag})
        assert served.status_code == 200 and _bit(served.json(), index) and served.headers["etag"] != tag
        # the other replica's copy ends within the window, measured on its own clock
        clock.now += settings.public_cache_seconds
        assert _bit((await other.get(path)).json(), index)
        # an identified caller is never answered from a copy
        assert _bit((await other.get(path, headers=await platform.school_headers())).json(), index)
