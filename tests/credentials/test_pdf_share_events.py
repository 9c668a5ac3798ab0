"""The printable diploma (PDF with the verification QR code) on the folder and S3 stores; holders' expiring share
links; the issued / suspended / revoked events reaching records and learning through the outbox; a course
certificate from learning's event with the holder read from identity."""

from __future__ import annotations

import io
import uuid
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pypdf
import pytest
import segno
from sqlalchemy import select, update

from services.common.db import utcnow
from services.common.models import InboxEvent
from services.common.storage import open_store
from services.credentials.diplomas.pdf import QR_BORDER, qr_matrix
from services.credentials.models import ShareLink, VerificationLog
from tests.credentials.factories import diploma, issue, wait_for_event_jobs
from tests.learning.helpers import new_person, subject_of
from tests.support import Platform

#: no call to identity (or another service) while a write transaction is open: services.common.testing.WriteTransactions
pytestmark = pytest.mark.usefixtures("no_calls_in_write_transactions")


async def _student(platform: Platform) -> tuple[dict[str, str], str]:
    async with platform.client("identity") as c:
        login = await c.post("/v1/auth/login", json={"username": "student.demo", "password": "dev-only-Student#2026"})
        token = login.json()["access_token"]
        me = await c.get("/v1/accounts/me", headers={"Authorization": f"Bearer {token}"})
    return {"Authorization": f"Bearer {token}"}, me.json()["person_id"]


def _code() -> str:
    """A programme code of this test alone (the demo student is the holder in several tests)."""
    return "P" + uuid.uuid4().hex[:10]


def _pdf_text_and_links(data: bytes) -> tuple[str, set[str]]:
    page = pypdf.PdfReader(io.BytesIO(data)).pages[0]
    links = {a.get_object()["/A"]["/URI"] for a in page.get("/Annots", [])}
    return page.extract_text(), links


def test_qr_matrix_is_the_verification_url() -> None:
    url = "http://127.0.0.1:8000/verify/" + str(uuid.uuid4())
    matrix = qr_matrix(url)
    reference = segno.make(url, error="m", micro=False)
    assert [[bool(v) for v in row] for row in reference.matrix_iter(scale=1, border=QR_BORDER)] == matrix
    assert len(matrix) == len(reference.matrix) + 2 * QR_BORDER
    # a different address gives a different symbol: what is drawn depends on the payload
    assert qr_matrix(url[:-1] + ("0" if url[-1] != "0" else "1")) != matrix


async def test_diploma_pdf_for_holder_and_school_on_the_folder_store(platform: Platform) -> None:
    student, person = await _student(platform)
    cred = await issue(platform, diploma(person_id=person, holder={"full_name": "Nguyễn Thị Ngọc Ánh", "gender": "female"},
                                           achievement={"code": _code()}))
    school = await platform.school_headers()
    async with platform.client("credentials") as c:
        mine = await c.get(f"/v1/credentials/{cred['id']}/pdf", headers=student)
        by_school = await c.get(f"/v1/credentials/{cred['id']}/pdf", headers=school)
        stranger = await c.get(f"/v1/credentials/{(await issue(platform))['id']}/pdf", headers=student)
        anonymous = await c.get(f"/v1/credentials/{cred['id']}/pdf")
        url = urlsplit(mine.json()["download_url"])
        downloaded = await c.get(f"{url.path.removeprefix('/api/credentials')}?{url.query}")  # the gateway's prefix
    assert mine.status_code == 200 and by_school.status_code == 200, mine.text
    assert stranger.status_code == 404 and anonymous.status_code == 401
    assert mine.json()["verify_url"] == f"http://127.0.0.1:8000/verify/{cred['id']}"
    assert downloaded.status_code == 200 and downloaded.content.startswith(b"%PDF")
    text, links = _pdf_text_and_links(downloaded.content)
    assert "Nguyễn Thị Ngọc Ánh" in text and "BẰNG TỐT NGHIỆP CAO ĐẲNG" in text
    assert "Công nghệ thông tin (ứng dụng phần mềm)" in text and "Giỏi" in text
    assert cred["document"]["serialNumber"] in text
    # the QR code is a link to the public verification page, and that address is printed under it
    assert links == {mine.json()["verify_url"]} and mine.json()["verify_url"] in text


async def test_diploma_pdf_on_the_s3_store(platform: Platform, s3_server) -> None:  # type: ignore[no-untyped-def]
    app = platform.apps["credentials"]
    settings = platform.settings["credentials"]
    s3 = open_store(f"s3://diplomas-{uuid.uuid4().hex[:8]}", s3_endpoint=s3_server.endpoint, s3_access_key=s3_server.access_key,
                    s3_secret_key=s3_server.secret_key, secret_key=settings.secret_key, public_base_url=settings.public_base_url)
    await s3.ensure_ready()
    folder, app.state.store = app.state.store, s3
    try:
        cred = await issue(platform, diploma(holder={"full_name": "Phạm Đức Thắng"}))
        async with platform.client("credentials") as c:
            r = await c.get(f"/v1/credentials/{cred['id']}/pdf", headers=await platform.school_headers())
            again = await c.get(f"/v1/credentials/{cred['id']}/pdf", headers=await platform.school_headers())
        assert r.status_code == 200, r.text
        assert await s3.exists(f"credentials/CD0101/{cred['id']}.pdf")
        async with httpx.AsyncClient() as plain:  # a presigned URL of the S3 API itself
            downloaded = await plain.get(r.json()["download_url"])
        assert downloaded.status_code == 200 and again.status_code == 200
        text, links = _pdf_text_and_links(downloaded.content)
        assert "Phạm Đức Thắng" in text and links == {f"http://127.0.0.1:8000/verify/{cred['id']}"}
    finally:
        app.state.store = folder
        await s3.aclose()


async def test_share_link_lets_anyone_verify_until_expiry_or_revocation(platform: Platform) -> None:
    student, person = await _student(platform)
    cred = await issue(platform, diploma(person_id=person, achievement={"code": _code()}))
    other = await issue(platform)
    school = await platform.school_headers()
    async with platform.client("credentials") as c:
        created = await c.post(f"/v1/credentials/{cred['id']}/share-links", json={"expires_in_days": 30, "label": "Công ty ABC"},
                               headers=student)
        too_long = await c.post(f"/v1/credentials/{cred['id']}/share-links", json={"expires_in_days": 91}, headers=student)
        not_holder = await c.post(f"/v1/credentials/{cred['id']}/share-links", json={}, headers=school)
        not_mine = await c.post(f"/v1/credentials/{other['id']}/share-links", json={}, headers=student)
        assert created.status_code == 201, created.text
        link = created.json()
        path = urlsplit(link["url"]).path.removeprefix("/api/credentials")
        shared = await c.get(path)  # anyone: no account
        html = await c.get(path, headers={"Accept": "text/html"})
        unknown = await c.get("/v1/shared/" + "x" * 43)
        listed = await c.get(f"/v1/credentials/{cred['id']}/share-links", headers=student)
    assert too_long.status_code == 422 and not_mine.status_code == 404 and not_holder.status_code in (403, 404)
    assert link["state"] == "active" and link["label"] == "Công ty ABC"
    assert timedelta(days=29) < datetime.fromisoformat(link["expires_at"]) - utcnow() <= timedelta(days=30)
    assert shared.status_code == 200 and shared.json()["outcome"] == "valid" and shared.json()["document"] == cred["document"]
    assert shared.json()["credential"]["holder_name"] == "Trần Văn Minh"
    assert shared.headers["cache-control"] == "no-store"
    assert html.status_code == 200 and "Trần Văn Minh" in html.text
    assert unknown.status_code == 404
    [row] = listed.json()
    assert row["id"] == link["id"] and row["views"] == 2 and "url" not in row
    async with platform.apps["credentials"].state.db.session(write=False) as s:
        token_hashes = (await s.scalars(select(ShareLink.token_hash).where(ShareLink.id == uuid.UUID(link["id"])))).all()
        logged = (await s.scalars(select(VerificationLog).where(VerificationLog.credential_id == uuid.UUID(cred["id"]),
                                                                VerificationLog.channel == "share"))).all()
    token = path.rsplit("/", 1)[1]
    assert token not in token_hashes[0]  # only a keyed hash is kept
    assert len(logged) == 2 and {entry.outcome for entry in logged} == {"valid"}

    # the holder revokes it: gone at once
    async with platform.client("credentials") as c:
        revoked = await c.post(f"/v1/credentials/{cred['id']}/share-links/{link['id']}/revoke", headers=student)
        again = await c.post(f"/v1/credentials/{cred['id']}/share-links/{link['id']}/revoke", headers=student)
        after = await c.get(path)
        second = (await c.post(f"/v1/credentials/{cred['id']}/share-links", json={"expires_in_days": 1}, headers=student)).json()
    assert revoked.json()["state"] == "revoked" and again.status_code == 200 and revoked.json()["revoked_at"]
    assert after.status_code == 410 and after.json()["state"] == "revoked"

    # an expired link is gone too
    async with platform.apps["credentials"].state.db.session() as s:
        await s.execute(update(ShareLink).where(ShareLink.id == uuid.UUID(second["id"])).values(expires_at=utcnow() - timedelta(seconds=1)))
    async with platform.client("credentials") as c:
        expired = await c.get(urlsplit(second["url"]).path.removeprefix("/api/credentials"))
    assert expired.status_code == 410 and expired.json()["state"] == "expired"


async def _deliver_all(platform: Platform) -> None:
    deliverer = platform.apps["credentials"].state.deliverer
    for _ in range(200):
        if not await deliverer.run_once():
            return


async def _received(platform: Platform, service: str, credential_id: str) -> list[InboxEvent]:
    async with platform.apps[service].state.db.session(write=False) as s:
        return list((await s.scalars(select(InboxEvent).where(InboxEvent.subject == credential_id))).all())


async def test_issue_suspend_revoke_events_reach_records_and_learning(platform: Platform) -> None:
    cred = await issue(platform)
    school = await platform.school_headers()
    async with platform.client("credentials") as c:
        await c.post(f"/v1/credentials/{cred['id']}/suspend", json={"reason": "Đang xác minh"}, headers=school)
        await c.post(f"/v1/credentials/{cred['id']}/revoke", json={"reason": "Cấp sai"}, headers=school)
    await _deliver_all(platform)
    for service in ("records", "learning"):
        events = await _received(platform, service, cred["id"])
        types = sorted(e.type for e in events)
        assert types == sorted(["vn.vet.credentials.credential.issued", "vn.vet.credentials.credential.suspended",
                                "vn.vet.credentials.credential.revoked"]), (service, types)
        revoked = next(e for e in events if e.type.endswith(".revoked"))
        assert revoked.source == "credentials" and revoked.data["credential_id"] == cred["id"]
        assert revoked.data["status"] == "revoked" and revoked.data["status_reason"] == "Cấp sai"
        assert revoked.data["person_id"] == cred["person_id"] and revoked.data["type"] == "diploma"


async def test_course_completed_event_issues_a_certificate_with_the_holder_from_identity(platform: Platform) -> None:
    _, person = await _student(platform)
    learning = {"Authorization": f"Bearer {await platform.token('svc-learning', platform.settings['learning'].client_secret, 'events:deliver')}"}
    course = str(uuid.uuid4())
    event = {
        "specversion": "1.0", "id": str(uuid.uuid4()), "type": "vn.vet.learning.course.completed", "source": "learning",
        "subject": course, "time": "2026-09-01T02:00:00Z", "datacontenttype": "application/json",
        "data": {"course_id": course, "version": 2, "title": "Kỹ năng giao tiếp", "skill_area": "giao tiếp", "audience": "learner",
                 "hours": 30, "person_id": person, "completed_at": "2026-09-01T02:00:00Z", "final_score": 86},
    }
    async with platform.client("credentials") as c:
        r = await c.post("/v1/events", json=event, headers=learning)
        assert r.status_code == 202, r.text
        admin = await platform.admin_headers()
        [job] = await wait_for_event_jobs(c, admin, "VNVET", [event["id"]])
        assert (job["state"], job["issued"]) == ("completed", 1), job
        listed = await c.get("/v1/credentials", params={"institution": "VNVET", "limit": 200}, headers=admin)
        found = [i for i in listed.json()["items"] if i["title"].endswith("Kỹ năng giao tiếp")]
        assert len(found) == 1, listed.text
        full = await c.get(f"/v1/credentials/{found[0]['id']}", headers=admin)
    body = full.json()
    assert body["kind"] == "course_certificate" and body["person_id"] == person
    subject = body["document"]["credentialSubject"]
    async with platform.client("identity") as c:
        me = await c.get(f"/v1/persons/{person}", headers=await platform.admin_headers())
    assert subject["name"] == me.json()["full_name"] and subject["achievement"]["name"] == "Kỹ năng giao tiếp"
    assert subject["finalScore"] == "86" and body["award_year"] == 2026


async def test_course_completed_by_an_account_without_a_person_issues_one_certificate(platform: Platform) -> None:
    """A teacher who signs in with a staff account has no person record: learning names them ``account:<id>`` and
    sends their name; the certificate is issued to that account, once even when the event arrives twice."""
    learning = {"Authorization": f"Bearer {await platform.token('svc-learning', platform.settings['learning'].client_secret, 'events:deliver')}"}
    teacher = await new_person(platform, "CD0101", "teacher")
    other = await new_person(platform, "CD0101", "teacher")
    course, account = str(uuid.uuid4()), subject_of(teacher)
    assert account.startswith("account:")
    title = f"Năng lực số cho nhà giáo {course[:8]}"
    event = {
        "specversion": "1.0", "id": str(uuid.uuid4()), "type": "vn.vet.learning.course.completed", "source": "learning",
        "subject": course, "time": "2026-10-01T02:00:00Z", "datacontenttype": "application/json",
        "data": {"course_id": course, "version": 1, "title": title, "skill_area": "digital", "audience": "teachers",
                 "hours": 20, "learner_id": account, "holder": {"full_name": "Trần Thị Giáo Viên"},
                 "completed_at": "2026-10-01T02:00:00Z", "final_score": 90},
    }
    async with platform.client("credentials") as c:
        ids = [event["id"], str(uuid.uuid4())]  # delivered, and sent again under a new event id
        for event_id in ids:
            r = await c.post("/v1/events", json=event | {"id": event_id}, headers=learning)
            assert r.status_code == 202, r.text
        admin = await platform.admin_headers()
        # each distinct event became one job; both have ended: one issued, the other found it
        jobs = await wait_for_event_jobs(c, admin, "VNVET", ids)
        assert sorted((j["issued"], j["existing"]) for j in jobs) == [(0, 1), (1, 0)], jobs
        r = await c.get("/v1/credentials", params={"institution": "VNVET", "limit": 200}, headers=admin)
        found = [i for i in r.json().get("items", []) if i["title"].endswith(title)]
        assert len(found) == 1, found
        body = (await c.get(f"/v1/credentials/{found[0]['id']}", headers=admin)).json()
    assert body["kind"] == "course_certificate" and body["person_id"] is None and body["learner_id"] == account
    assert body["document"]["credentialSubject"]["name"] == "Trần Thị Giáo Viên"
    # the teacher (that account) lists and reads it; another teacher's account does not see it as theirs
    async with platform.client("credentials") as c:
        mine = (await c.get("/v1/credentials", headers=teacher)).json()["items"]
        assert [i["id"] for i in mine] == [found[0]["id"]]
        assert (await c.get(f"/v1/credentials/{found[0]['id']}", headers=teacher)).status_code == 200
        assert (await c.get("/v1/credentials", headers=other)).json()["items"] == []
