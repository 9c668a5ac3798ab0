"""Helpers for the learning tests: sign-in, sample files (real magic numbers), SCORM / cmi5 packages built here."""

from __future__ import annotations

import hashlib
import io
import os
import uuid
import zipfile
from typing import Any

import httpx
from jose import jwt

from tests.support import Platform

TEACHER = ("teacher.demo", "dev-only-Teacher#2026")  # teacher at CD0101
STUDENT = ("student.demo", "dev-only-Student#2026")  # student at CD0101
OFFICER = ("officer.hcm.demo", "dev-only-Officer#2026")  # province officer, learning:moderate
PASSWORD = "Mật-khẩu-Tốt-2026"


async def login(platform: Platform, username: str, password: str) -> dict[str, str]:
    async with platform.client("identity") as c:
        r = await c.post("/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def new_person(platform: Platform, at: str, role: str) -> dict[str, str]:
    username = f"lo.{uuid.uuid4().hex[:10]}"
    async with platform.client("identity") as c:
        r = await c.post("/v1/accounts", json={"username": username, "full_name": "Người dùng thử", "password": PASSWORD,
                                               "memberships": [{"at": at, "role": role}]}, headers=await platform.admin_headers())
    assert r.status_code == 201, r.text
    return await login(platform, username, PASSWORD)


def subject_of(headers: dict[str, str]) -> str:
    return jwt.get_unverified_claims(headers["Authorization"].split(" ", 1)[1])["sub"]


def marker() -> str:
    """A word no other test uses, to find this test's objects in a shared database."""
    return "zq" + uuid.uuid4().hex[:10]


def mp4(size: int = 256 * 1024) -> bytes:
    head = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
    return head + os.urandom(size - len(head))


def pdf(size: int = 64 * 1024) -> bytes:
    head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    return head + os.urandom(size - len(head))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def zip_of(files: dict[str, bytes | str], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as z:
        for name, content in files.items():
            z.writestr(name, content.encode("utf-8") if isinstance(content, str) else content)
    return buffer.getvalue()


SCORM12_MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>
<manifest identifier="com.example.kynang" version="1.0"
  xmlns="http://www.imsproject.org/xsd/imscp_rootv1p1p2"
  xmlns:adlcp="http://www.adlnet.org/xsd/adlcp_rootv1p2">
  <metadata><schema>ADL SCORM</schema><schemaversion>1.2</schemaversion></metadata>
  <organizations default="ORG-1">
    <organization identifier="ORG-1">
      <title>Kỹ năng giao tiếp</title>
      <item identifier="ITEM-1" identifierref="RES-1"><title>Bài 1: Lắng nghe</title></item>
      <item identifier="ITEM-2" identifierref="RES-2"><title>Bài 2: Phản hồi</title></item>
    </organization>
  </organizations>
  <resources>
    <resource identifier="RES-1" type="webcontent" adlcp:scormtype="sco" href="{launch}"><file href="{launch}"/></resource>
    <resource identifier="RES-2" type="webcontent" adlcp:scormtype="sco" href="lessons/bai2.html"/>
  </resources>
</manifest>"""

SCORM2004_MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>
<manifest identifier="vn.vet.teamwork" xmlns="http://www.imsglobal.org/xsd/imscp_v1p1"
  xmlns:adlcp="http://www.adlnet.org/xsd/adlcp_v1p3">
  <metadata><schema>ADL SCORM</schema><schemaversion>2004 4th Edition</schemaversion></metadata>
  <organizations default="O1">
    <organization identifier="O1"><title>Làm việc nhóm</title>
      <item identifier="I1"><title>Chương 1</title>
        <item identifier="I1a" identifierref="R1" parameters="?lesson=1"><title>Mở đầu</title></item>
      </item>
    </organization>
  </organizations>
  <resources><resource identifier="R1" type="webcontent" adlcp:scormType="sco" href="content/start.html"/></resources>
</manifest>"""

CMI5_XML = """<?xml version="1.0" encoding="utf-8"?>
<courseStructure xmlns="https://w3id.org/xapi/profiles/cmi5/v1/CourseStructure.xsd">
  <course id="https://vet.gov.vn/courses/giao-tiep">
    <title><langstring lang="vi-VN">Giao tiếp nơi làm việc</langstring></title>
    <description><langstring lang="vi-VN">Khoá học kỹ năng mềm</langstring></description>
  </course>
  <block id="https://vet.gov.vn/courses/giao-tiep/block1">
    <title><langstring lang="vi-VN">Phần 1</langstring></title>
    <au id="https://vet.gov.vn/courses/giao-tiep/au1" moveOn="CompletedOrPassed" masteryScore="0.8" launchMethod="OwnWindow">
      <title><langstring lang="vi-VN">Bài học 1</langstring></title>
      <url>au1/index.html</url>
    </au>
  </block>
</courseStructure>"""

INDEX_HTML = "<!doctype html><html><head><meta charset='utf-8'><title>Bài 1</title></head><body>Xin chào</body></html>"


def scorm12(launch: str = "index.html", extra: dict[str, bytes | str] | None = None, manifest: str | None = None) -> bytes:
    files: dict[str, bytes | str] = {"imsmanifest.xml": manifest or SCORM12_MANIFEST.format(launch=launch),
                                     "index.html": INDEX_HTML, "lessons/bai2.html": INDEX_HTML.replace("Bài 1", "Bài 2")}
    return zip_of(files | (extra or {}))


def scorm2004() -> bytes:
    return zip_of({"imsmanifest.xml": SCORM2004_MANIFEST, "content/start.html": INDEX_HTML})


def cmi5() -> bytes:
    return zip_of({"cmi5.xml": CMI5_XML, "au1/index.html": INDEX_HTML, "au1/app.js": "console.log('cmi5')"})


def metadata(title: str, type_: str = "video", **kw: Any) -> dict[str, Any]:
    return {"title": title, "type": type_, "description": kw.pop("description", "Học liệu thử nghiệm"),
            "levels": ["trung_cap"], "occupation_codes": ["5480201"], "keywords": ["giao tiếp"], **kw}


async def create(c: httpx.AsyncClient, headers: dict[str, str], title: str, type_: str = "video", **kw: Any) -> dict[str, Any]:
    r = await c.post("/v1/learning-objects", json=metadata(title, type_, **kw), headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def upload(c: httpx.AsyncClient, headers: dict[str, str], object_id: str, data: bytes, *,
                 content_type: str = "application/octet-stream", filename: str = "file.bin", status: int = 201) -> dict[str, Any]:
    r = await c.put(f"/v1/learning-objects/{object_id}/file", params={"filename": filename}, content=data,
                    headers=headers | {"Content-Type": content_type})
    assert r.status_code == status, r.text
    return r.json()


async def publish(c: httpx.AsyncClient, author: dict[str, str], moderator: dict[str, str], object_id: str) -> dict[str, Any]:
    r = await c.post(f"/v1/learning-objects/{object_id}/submit", headers=author)
    assert r.status_code == 200, r.text
    r = await c.post(f"/v1/learning-objects/{object_id}/publish", json={"reason": "đạt yêu cầu"}, headers=moderator)
    assert r.status_code == 200, r.text
    return r.json()
