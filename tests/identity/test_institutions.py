"""The institution registry: public reads and GeoJSON, officer writes scoped by province, concurrent-edit guard,
all-or-nothing CSV import, audit entries."""

from __future__ import annotations

import uuid

from tests.support import Platform


async def province_079(platform: Platform) -> dict[str, str]:
    return {"Authorization": f"Bearer {await platform.token('demo-province-079', 'dev-only-demo-province-secret')}"}


def code(prefix: str = "CD") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8].upper()}"


async def test_public_reads_filters_and_diacritic_free_search(platform: Platform) -> None:
    async with platform.client("identity") as c:
        everything = await c.get("/v1/institutions", params={"limit": 500})
        hcm = await c.get("/v1/institutions", params={"province": "079"})
        old_code = await c.get("/v1/institutions", params={"province": "049"})  # Quảng Nam → Đà Nẵng
        search = await c.get("/v1/institutions", params={"q": "cao dang ky thuat"})
        one = await c.get("/v1/institutions/CD0101")
        missing = await c.get("/v1/institutions/NOPE99")
    assert everything.status_code == 200
    assert {"CD0101", "TC7901", "TT4901"} <= {i["code"] for i in everything.json()["items"]}
    assert {i["code"] for i in hcm.json()["items"]} >= {"TC7901"} and all(i["province_code"] == "079" for i in hcm.json()["items"])
    assert "TT4901" in {i["code"] for i in old_code.json()["items"]}
    assert "CD0101" in {i["code"] for i in search.json()["items"]}
    assert one.json()["name"].startswith("Trường Cao đẳng") and one.headers["etag"].startswith('"v')
    assert missing.status_code == 404


async def test_geojson_feature_collection(platform: Platform) -> None:
    async with platform.client("identity") as c:
        r = await c.get("/v1/institutions.geojson")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    doc = r.json()
    assert doc["type"] == "FeatureCollection"
    by_code = {f["id"]: f for f in doc["features"]}
    assert {"CD0101", "TC7901", "TT4901"} <= set(by_code)
    for f in doc["features"]:
        assert f["type"] == "Feature" and f["geometry"]["type"] == "Point"
        lon, lat = f["geometry"]["coordinates"]
        assert 102 <= lon <= 118 and 8 <= lat <= 24  # RFC 7946: longitude first
        assert {"code", "name", "type", "ownership", "province_code"} <= set(f["properties"])


async def test_province_officer_manages_own_province_only(platform: Platform) -> None:
    officer = await province_079(platform)
    mine = {"code": code(), "name": "Trường Trung cấp Kỹ thuật Nông nghiệp TP.HCM", "type": "intermediate",
            "province_code": "079", "latitude": 10.85, "longitude": 106.77}
    theirs = {**mine, "code": code(), "province_code": "001"}
    old = {**mine, "code": code(), "province_code": "074"}  # Bình Dương merged into 079
    async with platform.client("identity") as c:
        created = await c.post("/v1/institutions", json=mine, headers=officer)
        refused = await c.post("/v1/institutions", json=theirs, headers=officer)
        merged_code = await c.post("/v1/institutions", json=old, headers=officer)
        edit_other = await c.patch("/v1/institutions/CD0101", json={"address": "x"}, headers=officer)
        move_away = await c.patch(f"/v1/institutions/{mine['code']}", json={"province_code": "001"}, headers=officer)
        anonymous = await c.post("/v1/institutions", json={**mine, "code": code()})
    assert created.status_code == 201, created.text
    assert refused.status_code == 403 and edit_other.status_code == 403 and move_away.status_code == 403
    assert merged_code.status_code == 201 and merged_code.json()["province_code"] == "079"
    assert anonymous.status_code == 401


async def test_if_match_guards_concurrent_edits_and_changes_are_audited(platform: Platform) -> None:
    admin = await platform.admin_headers()
    body = {"code": code(), "name": "Trung tâm GDNN Huyện Ba Vì", "type": "vet_centre", "province_code": "001"}
    async with platform.client("identity") as c:
        created = await c.post("/v1/institutions", json=body, headers=admin)
        tag = created.headers["etag"]
        first = await c.patch(f"/v1/institutions/{body['code']}", json={"address": "Xã Tây Đằng, Hà Nội"}, headers=admin | {"If-Match": tag})
        stale = await c.patch(f"/v1/institutions/{body['code']}", json={"address": "overwrite"}, headers=admin | {"If-Match": tag})
        bad_merge = await c.patch(f"/v1/institutions/{body['code']}", json={"status": "merged"}, headers=admin)
        merged = await c.patch(f"/v1/institutions/{body['code']}", json={"status": "merged", "merged_into_code": "CD0101"}, headers=admin)
        audit = await c.get("/v1/admin/audit", params={"target_type": "institution", "target_id": body["code"]}, headers=admin)
        school = await c.get("/v1/admin/audit", headers=await platform.school_headers())
    assert first.status_code == 200 and first.headers["etag"] != tag
    assert stale.status_code == 412 and stale.headers["content-type"] == "application/problem+json"
    assert bad_merge.status_code == 422 and bad_merge.json()["errors"][0]["field"] == "merged_into_code"
    assert merged.status_code == 200 and merged.json()["merged_into_code"] == "CD0101"
    actions = [e["action"] for e in audit.json()["items"]]
    assert actions == ["institution.updated", "institution.updated", "institution.created"]  # newest first
    assert audit.json()["items"][1]["details"]["address"] == {"old": None, "new": "Xã Tây Đằng, Hà Nội"}
    assert school.status_code == 403


async def test_csv_import_is_all_or_nothing_with_row_and_field_errors(platform: Platform) -> None:
    admin = await platform.admin_headers()
    a, b, c_ = code(), code(), code()
    good = (
        "code,name,type,ownership,province_code,address,latitude,longitude\n"
        f"{a},Trường Cao đẳng Nghề Hải Phòng,college,public,031,Phường Lê Chân,20.85,106.68\n"
        f"{b},Trường Trung cấp Hải Dương,intermediate,private,030,,,\n"
    )
    bad = good + f"{c_},Trung tâm X,university,public,031,,,\n" + f"{a},Trùng mã,college,public,031,,,\n"
    async with platform.client("identity") as c:
        refused = await c.post("/v1/institutions/import", content=bad.encode(), headers=admin | {"Content-Type": "text/csv"})
        after_refusal = await c.get(f"/v1/institutions/{a}")
        ok = await c.post("/v1/institutions/import", content=good.encode(), headers=admin | {"Content-Type": "text/csv"})
        again = await c.post("/v1/institutions/import", content=good.encode(), headers=admin | {"Content-Type": "text/csv"})
        moved = await c.get(f"/v1/institutions/{b}")
        officer = await c.post("/v1/institutions/import", content=good.encode(), headers=await province_079(platform) | {"Content-Type": "text/csv"})
        header = await c.post("/v1/institutions/import", content=b"code,name\nX1,Y\n", headers=admin)
    assert refused.status_code == 422
    errs = refused.json()["errors"]
    assert {(e["row"], e["field"]) for e in errs} == {(4, "type"), (5, "code")}
    assert after_refusal.status_code == 404  # nothing half-applied
    assert ok.status_code == 200 and ok.json() == {"created": 2, "updated": 0, "unchanged": 0}
    assert again.json() == {"created": 0, "updated": 0, "unchanged": 2}
    assert moved.json()["province_code"] == "031"  # Hải Dương (030) merged into Hải Phòng
    assert officer.status_code == 422 and all(e["field"] == "province_code" for e in officer.json()["errors"])
    assert header.status_code == 422 and {e["field"] for e in header.json()["errors"]} == {"type", "province_code"}


async def test_registry_reads_are_revalidated_and_a_change_is_served_at_once(platform: Platform) -> None:
    """The public registry is answered from a short-lived copy (ETag, 304); a change through the API drops it when
    it commits, so the next read — the list, the GeoJSON, the institution itself — shows it."""
    admin = await platform.admin_headers()
    body = {"code": code(), "name": "Trường Trung cấp Nghề Sóc Sơn", "type": "intermediate", "province_code": "001",
            "latitude": 21.25, "longitude": 105.85}
    async with platform.client("identity") as c:
        created = await c.post("/v1/institutions", json=body, headers=admin)
        assert created.status_code == 201, created.text
        listed = await c.get("/v1/institutions", params={"q": "soc son"})
        one = await c.get(f"/v1/institutions/{body['code']}")
        revalidated = await c.get("/v1/institutions", params={"q": "soc son"}, headers={"If-None-Match": listed.headers["etag"]})
        renamed = await c.patch(f"/v1/institutions/{body['code']}", json={"name": "Trường Cao đẳng Nghề Sóc Sơn"}, headers=admin)
        assert renamed.status_code == 200, renamed.text
        listed_after = await c.get("/v1/institutions", params={"q": "soc son"})
        one_after = await c.get(f"/v1/institutions/{body['code']}", headers={"If-None-Match": one.headers["etag"]})
        mapped_after = await c.get("/v1/institutions.geojson")
        stale_tag = await c.get("/v1/institutions", params={"q": "soc son"}, headers={"If-None-Match": listed.headers["etag"]})
    assert "public" in listed.headers["cache-control"] and listed.headers["etag"]
    assert revalidated.status_code == 304 and revalidated.content == b""
    assert [i["name"] for i in listed.json()["items"]] == ["Trường Trung cấp Nghề Sóc Sơn"]
    assert [i["name"] for i in listed_after.json()["items"]] == ["Trường Cao đẳng Nghề Sóc Sơn"]
    assert one_after.status_code == 200 and one_after.json()["name"] == "Trường Cao đẳng Nghề Sóc Sơn"
    assert {f["id"]: f["properties"]["name"] for f in mapped_after.json()["features"]}[body["code"]] == "Trường Cao đẳng Nghề Sóc Sơn"
    assert stale_tag.status_code == 200 and stale_tag.headers["etag"] != listed.headers["etag"]
