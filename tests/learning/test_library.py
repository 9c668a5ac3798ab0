"""Metadata validation, versions, moderation and who sees what, marketplace acquisitions and usage."""

from __future__ import annotations

from tests.learning.conftest import People
from tests.learning.helpers import create, marker, metadata, mp4, new_person, pdf, publish, subject_of, upload
from tests.support import Platform


async def test_metadata_is_validated(platform: Platform, people: People) -> None:
    async with platform.client("learning") as c:
        bad = {**metadata("x"), "occupation_codes": ["12"], "licence": {"code": "marketplace"}, "visibility": "everyone"}
        r = await c.post("/v1/learning-objects", json=bad, headers=people.teacher)
        assert r.status_code == 422
        fields = {e["field"] for e in r.json()["errors"]}
        assert {"occupation_codes.0", "licence", "visibility"} <= fields
        r = await c.post("/v1/learning-objects", json=metadata("Liên kết", "link"), headers=people.teacher)
        assert r.status_code == 422  # a link needs its url
        r = await c.post("/v1/learning-objects", json=metadata("Bài", "video"), headers=people.student)
        assert r.status_code == 403  # students do not author
        r = await c.post("/v1/learning-objects", json=metadata("Bài", "video") | {"institution_code": "TC7901"}, headers=people.teacher)
        assert r.status_code == 403  # nor teachers for another school
        r = await c.post("/v1/learning-objects", json=metadata("Bài", "video"))
        assert r.status_code == 401


async def test_versions_history_and_pinning(platform: Platform, people: People) -> None:
    first, second = mp4(), mp4()
    async with platform.client("learning") as c:
        obj = await create(c, people.teacher, f"Bảo dưỡng động cơ {marker()}", visibility="platform")
        await upload(c, people.teacher, obj["id"], first)  # v2
        await publish(c, people.teacher, people.officer, obj["id"])
        r = await c.patch(f"/v1/learning-objects/{obj['id']}", json={"description": "Bản sửa", "change_note": "sửa mô tả"},
                          headers=people.teacher | {"If-Match": '"v2"'})
        assert r.status_code == 200 and r.json()["version"]["number"] == 3 and r.headers["etag"] == '"v3"'
        stale = await c.patch(f"/v1/learning-objects/{obj['id']}", json={"title": "Khác"}, headers=people.teacher | {"If-Match": '"v2"'})
        assert stale.status_code == 412
        same = await c.patch(f"/v1/learning-objects/{obj['id']}", json={"description": "Bản sửa"}, headers=people.teacher)
        assert same.json()["latest_version"] == 3  # no change, no version
        await upload(c, people.teacher, obj["id"], second)  # v4: new file, a draft
        versions = (await c.get(f"/v1/learning-objects/{obj['id']}/versions", headers=people.teacher)).json()
        assert [(v["number"], v["status"]) for v in versions] == [(4, "draft"), (3, "superseded"), (2, "published"), (1, "superseded")]
        # readers elsewhere still see the published version 2, and version 2 stays downloadable once 4 is published
        other = (await c.get(f"/v1/learning-objects/{obj['id']}", headers=people.other_student)).json()
        assert other["version"]["number"] == 2 and other["version"]["metadata"]["description"] != "Bản sửa"
        assert (await c.get(f"/v1/learning-objects/{obj['id']}/versions/4", headers=people.other_student)).status_code == 404
        await publish(c, people.teacher, people.officer, obj["id"])
        pinned = await c.get(f"/v1/learning-objects/{obj['id']}/download", params={"version": 2}, headers=people.other_student)
        assert pinned.status_code == 200 and pinned.json()["sha256"] == upload_sha(first)
        latest = (await c.get(f"/v1/learning-objects/{obj['id']}/download", headers=people.other_student)).json()
        assert latest["version"] == 4 and latest["sha256"] == upload_sha(second)
        seen = [v["number"] for v in (await c.get(f"/v1/learning-objects/{obj['id']}/versions", headers=people.other_student)).json()]
        assert seen == [4, 2]  # only versions that were published


def upload_sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


async def test_moderation_and_visibility_both_ways(platform: Platform, people: People) -> None:
    async with platform.client("learning") as c:
        platform_wide = await create(c, people.teacher, f"Kỹ năng làm việc nhóm {marker()}", visibility="platform")
        await upload(c, people.teacher, platform_wide["id"], mp4())
        oid = platform_wide["id"]
        # a draft is the author's institution's business only
        assert (await c.get(f"/v1/learning-objects/{oid}", headers=people.student)).status_code == 404  # not staff
        assert (await c.get(f"/v1/learning-objects/{oid}", headers=people.other_teacher)).status_code == 404
        assert (await c.get(f"/v1/learning-objects/{oid}")).status_code == 404
        # a teacher cannot publish, not even their own material
        assert (await c.post(f"/v1/learning-objects/{oid}/publish", headers=people.teacher)).status_code == 403
        assert (await c.post(f"/v1/learning-objects/{oid}/publish", headers=people.officer)).status_code == 409  # not submitted
        assert (await c.post(f"/v1/learning-objects/{oid}/submit", headers=people.other_teacher)).status_code == 404
        assert (await c.post(f"/v1/learning-objects/{oid}/submit", headers=people.teacher)).status_code == 200
        queue = await c.get("/v1/review-queue", headers=people.officer)
        assert oid in [o["id"] for o in queue.json()["items"]]
        assert (await c.get("/v1/review-queue", headers=people.teacher)).status_code == 403
        rejected = await c.post(f"/v1/learning-objects/{oid}/reject", json={}, headers=people.officer)
        assert rejected.status_code == 422  # a reason is required
        rejected = await c.post(f"/v1/learning-objects/{oid}/reject", json={"reason": "Thiếu phụ đề"}, headers=people.officer)
        assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
        assert (await c.get(f"/v1/learning-objects/{oid}", headers=people.other_teacher)).status_code == 404
        await publish(c, people.teacher, people.officer, oid)
        assert (await c.get(f"/v1/learning-objects/{oid}", headers=people.other_student)).status_code == 200
        assert (await c.get(f"/v1/learning-objects/{oid}")).status_code == 404  # platform-wide: signed-in readers only

        # institution-only material, even published, stays inside its institution
        inside = await create(c, people.teacher, f"Nội bộ {marker()}", "document", visibility="institution")
        await upload(c, people.teacher, inside["id"], pdf())
        await publish(c, people.teacher, people.officer, inside["id"])
        assert (await c.get(f"/v1/learning-objects/{inside['id']}", headers=people.student)).status_code == 200
        assert (await c.get(f"/v1/learning-objects/{inside['id']}", headers=people.other_student)).status_code == 404
        assert (await c.get(f"/v1/learning-objects/{inside['id']}/download", headers=people.other_teacher)).status_code == 404
        assert (await c.get(f"/v1/learning-objects/{inside['id']}/download", headers=people.student)).status_code == 200

        # withdrawal takes it off the library and keeps the history
        r = await c.post(f"/v1/learning-objects/{oid}/withdraw", json={"reason": "Nội dung cũ"}, headers=people.teacher)
        assert r.status_code == 200 and r.json()["status"] == "withdrawn" and r.json()["published_version"] is None
        assert (await c.get(f"/v1/learning-objects/{oid}", headers=people.other_student)).status_code == 404
        history = (await c.get(f"/v1/learning-objects/{oid}/history", headers=people.teacher)).json()
        assert [e["action"] for e in history] == ["created", "new_version", "submitted", "rejected", "submitted", "published", "withdrawn"]
        assert history[3]["reason"] == "Thiếu phụ đề"
        assert len((await c.get(f"/v1/learning-objects/{oid}/versions", headers=people.teacher)).json()) == 2


async def test_review_queue_pages_oldest_first_without_gaps(platform: Platform, people: People) -> None:
    async with platform.client("learning") as c:
        mine = []
        for i in range(3):
            obj = await create(c, people.teacher, f"Chờ duyệt {i} {marker()}", visibility="platform")
            await upload(c, people.teacher, obj["id"], mp4())
            assert (await c.post(f"/v1/learning-objects/{obj['id']}/submit", headers=people.teacher)).status_code == 200
            mine.append(obj["id"])
        seen: list[str] = []
        cursor = None
        for _ in range(1000):
            r = await c.get("/v1/review-queue", params={"limit": 2} | ({"cursor": cursor} if cursor else {}), headers=people.officer)
            assert r.status_code == 200, r.text
            assert len(r.json()["items"]) <= 2
            seen += [o["id"] for o in r.json()["items"]]
            cursor = r.json()["next_cursor"]
            if not cursor:
                break
        assert len(seen) == len(set(seen)), "no object on two pages"
        assert [o for o in seen if o in mine] == mine, "all three, oldest first"
        assert all(o["status"] == "submitted" for o in r.json()["items"])


async def test_designated_reviewers(platform: Platform, people: People) -> None:
    reviewer = await new_person(platform, "TC7901", "teacher")
    async with platform.client("learning") as c:
        sub = subject_of(reviewer)
        assert (await c.put(f"/v1/reviewers/{sub}", json={"subject": sub}, headers=people.teacher)).status_code == 403
        r = await c.put(f"/v1/reviewers/{sub}", json={"subject": sub, "note": "Chuyên gia kỹ năng mềm"}, headers=people.officer)
        assert r.status_code == 200, r.text
        theirs = await create(c, people.teacher, f"Bài giảng {marker()}", visibility="public")
        await upload(c, people.teacher, theirs["id"], mp4())
        published = await publish(c, people.teacher, reviewer, theirs["id"])
        assert published["status"] == "published"
        assert (await c.get(f"/v1/learning-objects/{theirs['id']}")).status_code == 200  # public: no token needed
        own = await create(c, reviewer, f"Của người duyệt {marker()}", visibility="public")
        await upload(c, reviewer, own["id"], mp4())
        await c.post(f"/v1/learning-objects/{own['id']}/submit", headers=reviewer)
        assert (await c.post(f"/v1/learning-objects/{own['id']}/publish", headers=reviewer)).status_code == 403
        assert (await c.delete(f"/v1/reviewers/{sub}", headers=people.officer)).status_code == 204
        assert (await c.get("/v1/review-queue", headers=reviewer)).status_code == 403


async def test_marketplace_acquisitions_and_usage(platform: Platform, people: People) -> None:
    licence = {"code": "marketplace", "price": {"amount": 150000, "currency": "VND"}, "terms": "Dùng trong lớp học của đơn vị mua."}
    async with platform.client("learning") as c:
        r = await c.post("/v1/learning-objects", json=metadata("Giá", licence={"code": "CC-BY-4.0", "price": {"amount": 1}}), headers=people.teacher)
        assert r.status_code == 422
        obj = await create(c, people.teacher, f"Bộ bài giảng điện tử {marker()}", licence=licence, visibility="platform")
        await upload(c, people.teacher, obj["id"], mp4())
        await publish(c, people.teacher, people.officer, obj["id"])
        oid = obj["id"]
        refused = await c.get(f"/v1/learning-objects/{oid}/download", headers=people.other_teacher)
        assert refused.status_code == 403 and refused.json()["acquire"].endswith("/acquisitions")
        no_terms = await c.post(f"/v1/learning-objects/{oid}/acquisitions", json={"accept_terms": False}, headers=people.other_teacher)
        assert no_terms.status_code == 422
        wrong_price = await c.post(f"/v1/learning-objects/{oid}/acquisitions", headers=people.other_teacher,
                                   json={"accept_terms": True, "expected_price": {"amount": 100000, "currency": "VND"}})
        assert wrong_price.status_code == 409
        body = {"accept_terms": True, "expected_price": licence["price"], "institution_code": "TC7901"}
        acquired = await c.post(f"/v1/learning-objects/{oid}/acquisitions", json=body, headers=people.other_teacher)
        assert acquired.status_code == 201, acquired.text
        assert acquired.json()["price_amount"] == 150000 and acquired.json()["terms"] == licence["terms"]
        again = await c.post(f"/v1/learning-objects/{oid}/acquisitions", json=body, headers=people.other_teacher)
        assert again.status_code == 200 and again.json()["id"] == acquired.json()["id"]
        assert (await c.get(f"/v1/learning-objects/{oid}/download", headers=people.other_teacher)).status_code == 200
        # acquired for TC7901: its students may use it too
        assert (await c.get(f"/v1/learning-objects/{oid}/download", headers=people.other_student)).status_code == 200
        await c.get(f"/v1/learning-objects/{oid}", headers=people.other_student)
        listed = await c.get(f"/v1/learning-objects/{oid}/acquisitions", headers=people.teacher)
        assert [a["acquirer_sub"] for a in listed.json()] == [subject_of(people.other_teacher)]
        assert (await c.get(f"/v1/learning-objects/{oid}/acquisitions", headers=people.other_student)).status_code == 404
        usage = (await c.get(f"/v1/learning-objects/{oid}/usage", headers=people.teacher)).json()
        assert usage["downloads"] == 2 and usage["views"] >= 1
        by = {row["institution_code"]: row for row in usage["by_institution"]}
        assert by["TC7901"]["download"] == 2
        assert (await c.get(f"/v1/learning-objects/{oid}/usage", headers=people.other_teacher)).status_code == 403
