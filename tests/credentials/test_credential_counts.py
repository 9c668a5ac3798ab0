"""The public credential lookup of an institution (the digital map's link): counts by kind and status, the
verification address format, and no personal data."""

from __future__ import annotations

from tests.credentials.factories import diploma, issue
from tests.support import Platform


async def test_counts_and_verification_format_without_personal_data(platform: Platform) -> None:
    async with platform.client("credentials") as c:
        before = (await c.get("/v1/institutions/CD0101/credential-counts")).json()
    first = await issue(platform, diploma())
    second = await issue(platform, diploma())
    async with platform.client("credentials") as c:
        r = await c.post(f"/v1/credentials/{second['id']}/revoke", json={"reason": "Cấp sai"}, headers=await platform.school_headers())
        assert r.status_code == 200, r.text
        after = await c.get("/v1/institutions/CD0101/credential-counts")  # no token: public
        nothing = await c.get("/v1/institutions/ZZ9999/credential-counts")
    assert after.status_code == 200 and after.headers["cache-control"] == "public, max-age=300"
    body = after.json()
    delta = {k: body["diplomas"][k] - before["diplomas"][k] for k in ("issued", "active", "revoked", "suspended")}
    assert delta == {"issued": 2, "active": 1, "revoked": 1, "suspended": 0}
    assert body["verification_url_template"] == "http://127.0.0.1:8000/verify/{credential_id}"
    assert body["issuer_did_document"] == "http://127.0.0.1:8000/api/credentials/issuers/CD0101/did.json"
    text = after.text
    assert first["id"] not in text and "Trần Văn Minh" not in text and "person" not in text
    assert nothing.status_code == 200 and nothing.json()["diplomas"]["issued"] == 0 and nothing.json()["issuer_did_document"] is None
