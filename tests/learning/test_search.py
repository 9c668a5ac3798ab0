"""Search with and without Vietnamese diacritics, facets, sorting, and only what the caller may see."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import create_async_engine

from services.common.migrations import upgrade
from services.learning.models import LearningObject
from tests.learning.conftest import People, client_for, learning_app
from tests.learning.helpers import create, marker, mp4, pdf, publish, upload
from tests.support import Platform, UrlFactory


async def test_search_diacritics_facets_sorting_visibility(platform: Platform, people: People) -> None:
    tag = marker()
    async with platform.client("learning") as c:
        video = await create(c, people.teacher, f"Kỹ năng giao tiếp {tag}", visibility="public", levels=["so_cap"],
                             occupation_codes=["5480201"], keywords=["lắng nghe"])
        await upload(c, people.teacher, video["id"], mp4())
        await publish(c, people.teacher, people.officer, video["id"])
        doc = await create(c, people.teacher, f"Giao tiếp với khách hàng {tag}", "document", visibility="platform",
                           levels=["trung_cap"], description="Kỹ năng giao tiếp trong dịch vụ", language="en")
        await upload(c, people.teacher, doc["id"], pdf())
        await publish(c, people.teacher, people.officer, doc["id"])
        inside = await create(c, people.teacher, f"Kỹ năng giao tiếp nội bộ {tag}", visibility="institution")
        await upload(c, people.teacher, inside["id"], mp4())
        await publish(c, people.teacher, people.officer, inside["id"])
        draft = await create(c, people.teacher, f"Kỹ năng giao tiếp bản nháp {tag}", visibility="public")
        for _ in range(3):  # make the document the most used
            await c.get(f"/v1/learning-objects/{doc['id']}", headers=people.other_student)

        async def ids(headers: dict[str, str] | None = None, **params: object) -> list[str]:
            r = await c.get("/v1/search", params={"q": f"ky nang giao tiep {tag}"} | params, headers=headers or {})
            assert r.status_code == 200, r.text
            return [hit["id"] for hit in r.json()["items"]]

        # typed without diacritics, found with them; another school sees only what was published beyond the school
        assert set(await ids(people.other_student)) == {video["id"], doc["id"]}
        assert set(await ids()) == {video["id"]}  # anonymous: public only
        assert set(await ids(people.student)) == {video["id"], doc["id"], inside["id"], draft["id"]} - {draft["id"]}
        assert set(await ids(people.teacher)) == {video["id"], doc["id"], inside["id"], draft["id"]}  # staff see drafts
        with_marks = await c.get("/v1/search", params={"q": f"Kỹ Năng GIAO tiếp {tag}"}, headers=people.other_student)
        assert {h["id"] for h in with_marks.json()["items"]} == {video["id"], doc["id"]}
        prefix = await c.get("/v1/search", params={"q": f"{tag} giao tie"}, headers=people.other_student)  # as typed
        assert prefix.json()["total"] == 2

        r = await c.get("/v1/search", params={"q": tag}, headers=people.other_student)
        body = r.json()
        assert body["total"] == 2
        facets = {name: {f["value"]: f["count"] for f in values} for name, values in body["facets"].items()}
        assert facets["type"] == {"video": 1, "document": 1}
        assert facets["level"] == {"so_cap": 1, "trung_cap": 1}
        assert facets["language"] == {"vi": 1, "en": 1}
        assert facets["institution"] == {"CD0101": 2}
        assert facets["occupation"] == {"5480201": 2}
        assert await ids(people.other_student, type="document") == [doc["id"]]
        assert await ids(people.other_student, level="so_cap") == [video["id"]]
        assert await ids(people.other_student, language="en", licence="CC-BY-4.0") == [doc["id"]]
        assert await ids(people.other_student, sort="most_used") == [doc["id"], video["id"]]
        assert await ids(people.other_student, sort="newest") == [doc["id"], video["id"]]
        relevance = await ids(people.other_student, q=f"ky nang giao tiep lang nghe {tag}")
        assert relevance == [video["id"]]
        page1 = await c.get("/v1/search", params={"q": tag, "limit": 1, "sort": "newest"}, headers=people.other_student)
        page2 = await c.get("/v1/search", params={"q": tag, "limit": 1, "sort": "newest", "cursor": page1.json()["next_cursor"]},
                            headers=people.other_student)
        assert [page1.json()["items"][0]["id"], page2.json()["items"][0]["id"]] == [doc["id"], video["id"]]
        assert page2.json()["next_cursor"] is None
        # a withdrawn object disappears from other schools' results
        await c.post(f"/v1/learning-objects/{doc['id']}/withdraw", headers=people.officer)
        assert set(await ids(people.other_student)) == {video["id"]}


async def test_search_orders_beyond_the_counted_sample(platform: Platform, people: People) -> None:
    """A words query with more matches than the search counts (here 2) still pages through every match in the
    newest / most-used order, only what the caller may see; with fewer matches its first page comes from the sample."""
    tag = marker()
    async with platform.client("learning") as c:
        published = []
        for i, level in enumerate(["so_cap", "trung_cap", "so_cap", "trung_cap"]):
            obj = await create(c, people.teacher, f"Hàn điện cơ bản {i} {tag}", visibility="public", levels=[level])
            await upload(c, people.teacher, obj["id"], mp4(1024))
            await publish(c, people.teacher, people.officer, obj["id"])
            published.append(obj["id"])
        draft = await create(c, people.teacher, f"Hàn điện bản nháp {tag}", visibility="public", levels=["so_cap"])
        for _ in range(2):  # the second object the most used, then the fourth
            await c.get(f"/v1/learning-objects/{published[1]}", headers=people.other_student)
        await c.get(f"/v1/learning-objects/{published[3]}", headers=people.other_student)
    newest_first = published[::-1]

    async with learning_app(platform, search_count_limit=2) as app, client_for(app) as c:
        async def pages(headers: dict[str, str] | None = None, **params: object) -> tuple[list[str], dict]:
            ids, cursor, first = [], None, None
            while True:
                r = await c.get("/v1/search", params={"q": f"han dien {tag}", "limit": 1} | params | ({"cursor": cursor} if cursor else {}),
                                headers=headers or {})
                assert r.status_code == 200, r.text
                body = r.json()
                first = first or body
                ids += [hit["id"] for hit in body["items"]]
                cursor = body["next_cursor"]
                if cursor is None:
                    return ids, first

        ids, first = await pages(people.other_student, sort="newest")
        assert ids == newest_first
        assert (first["total"], first["total_exact"]) == (2, False)
        ids, _ = await pages(sort="newest", limit=3)  # anonymous, pages of 3
        assert ids == newest_first
        ids, _ = await pages(people.teacher, sort="newest", limit=2)  # staff of the school see its draft too
        assert ids == [draft["id"], *newest_first]
        ids, _ = await pages(people.other_student, sort="most_used")
        assert ids == [published[1], published[3], *[i for i in newest_first if i not in (published[1], published[3])]]
        # a filter leaving as many matches as are counted: total exact, the page from the sample
        ids, first = await pages(people.other_student, sort="newest", level="trung_cap", limit=5)
        assert ids == [published[3], published[1]]
        assert (first["total"], first["total_exact"]) == (2, True)
        assert {f["value"]: f["count"] for f in first["facets"]["level"]} == {"trung_cap": 2}


async def test_a_repeated_search_never_shows_what_the_caller_may_no_longer_see(platform: Platform, people: People) -> None:
    """Repeated searches reuse their ranking for a few seconds, per visibility. Another replica, whose copy predates
    a withdrawal, still reads the page's objects anew through the caller's filter: the withdrawn object is not
    shown. And a copy made for a signed-in reader is never the anonymous caller's."""
    tag = marker()
    async with platform.client("learning") as c:
        shared = await create(c, people.teacher, f"An toàn điện {tag}", visibility="platform")
        public = await create(c, people.teacher, f"An toàn điện cơ bản {tag}", visibility="public")
        for obj in (shared, public):
            await upload(c, people.teacher, obj["id"], mp4(1024))
            await publish(c, people.teacher, people.officer, obj["id"])

    async with learning_app(platform, search_cache_seconds=3600) as replica, client_for(replica) as other:
        async def ids(client: object, headers: dict[str, str] | None = None) -> list[str]:
            r = await client.get("/v1/search", params={"q": f"an toan dien {tag}", "sort": "newest"}, headers=headers or {})  # type: ignore[attr-defined]
            assert r.status_code == 200, r.text
            return [hit["id"] for hit in r.json()["items"]]

        assert await ids(other, people.other_student) == [public["id"], shared["id"]]
        assert await ids(other) == [public["id"]]  # anonymous: its own ranking, not the signed-in reader's
        async with platform.client("learning") as c:
            withdrawn = await c.post(f"/v1/learning-objects/{shared['id']}/withdraw", headers=people.officer)
            assert withdrawn.status_code == 200, withdrawn.text
            assert await ids(c, people.other_student) == [public["id"]]  # the replica that withdrew: at once
        assert await ids(other, people.other_student) == [public["id"]]  # the other: its copy, the object read anew
        assert await ids(other) == [public["id"]]


async def test_search_as_you_type_finds_every_word_the_last_one_begins(platform: Platform, people: People) -> None:
    """The last word typed is matched as the beginning of words of the library (on PostgreSQL it is sent to the
    full-text index as the words it begins, read from a lexicon the database keeps with the objects): every word it
    begins is found, words with punctuation too; a word new to the library once an object's text gains it; and a
    beginning shared by more words than are sent one by one."""
    tag = marker()
    async with platform.client("learning") as c:
        accounting = await create(c, people.teacher, f"Kế toán doanh nghiệp {tag}")
        cars = await create(c, people.teacher, f"Bảo dưỡng ô tô {tag}")
        events = await create(c, people.teacher, f"Tổ chức sự kiện {tag}",
                              description=f"Danh sách to-do của O'Neil, xem {tag}x.com/it's")  # a word with a quote in it
        cooking = await create(c, people.teacher, f"Nấu ăn {tag}")

        async def found(q: str) -> set[str]:
            r = await c.get("/v1/search", params={"q": q, "limit": 100}, headers=people.teacher)  # staff see drafts
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["total_exact"] and body["total"] == len(body["items"])
            return {hit["id"] for hit in body["items"]}

        assert await found(f"{tag} to") == {accounting["id"], cars["id"], events["id"]}  # toán, tô, tổ, to-do
        assert await found(f"{tag} toa") == {accounting["id"]}
        assert await found(f"{tag} to-d") == {cars["id"], events["id"]}  # the word "to", and one beginning "d"
        assert await found(f"{tag} o'ne") == {events["id"]}
        assert await found(f"{tag} nau a") == {cooking["id"]}
        assert await found(f"{tag}x") == {events["id"]}

        novel = f"{tag}moi"
        assert await found(f"{tag}m") == set()
        r = await c.patch(f"/v1/learning-objects/{cooking['id']}", json={"keywords": [novel]}, headers=people.teacher)
        assert r.status_code == 200, r.text
        assert await found(f"{tag}m") == {cooking["id"]}
        assert await found(f"{tag}mo") == {cooking["id"]}

        words = " ".join(f"{tag}w{i}" for i in range(40))
        many = await create(c, people.teacher, f"Từ vựng {tag}", description=words)
        assert await found(f"{tag}w") == {many["id"]}
        assert await found(f"{tag}w3") == {many["id"]}
        assert await found(f"{tag}w39") == {many["id"]}
        assert await found(f"{tag}w40") == set()


async def test_a_library_older_than_its_lexicon_is_searched_as_you_type_once_upgraded(platform: Platform,
                                                                                      database_factory: UrlFactory) -> None:
    """Objects stored before the search kept its lexicon (the migration before it) are found by the beginning of
    their words once the database is upgraded: the upgrade fills the lexicon from the objects already there."""
    url = await database_factory("learning", migrated=False)
    await upgrade("learning", url, "learning_worker_leases")
    tag, object_id, now = marker(), uuid.uuid4(), datetime.now(UTC)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(LearningObject.__table__).values(
                id=object_id, created_at=now, updated_at=now, institution_code="CD0101", owner_sub="teacher", latest_version=1,
                published_version=1, status="published", title=f"Kỹ năng giao tiếp {tag}", type="video", language="vi",
                licence="CC-BY-4.0", visibility="public", search_text=f"ky nang giao tiep {tag}", published_at=now,
                view_count=0, download_count=0))
    finally:
        await engine.dispose()
    await upgrade("learning", url)
    async with learning_app(platform, database_url=url) as app, client_for(app) as c:
        for q in (f"{tag} giao tie", f"{tag} gia", tag[:-2]):
            r = await c.get("/v1/search", params={"q": q})
            assert r.status_code == 200, r.text
            assert [hit["id"] for hit in r.json()["items"]] == [str(object_id)], q
