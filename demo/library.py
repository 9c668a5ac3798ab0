"""Shared learning-material library demo, against a running `make run`:

    .venv/bin/python demo/library.py [http://127.0.0.1:8000]

teacher.demo (CD0101) uploads a video (as a browser form would, the type taken from the bytes) and a SCORM 1.2
package, and submits both; her own attempt to publish is refused; the reviewer officer.hcm.demo publishes them; a
student at another school (student.tc.demo, TC7901) types the title without diacritics, finds both, downloads the
video byte for byte (and a Range of it) and plays the package. Each run uploads new material (its own tag)."""

from __future__ import annotations

import hashlib
import io
import os
import uuid
import zipfile

from _client import check, expect, gateway, path_of, sign_in, step

MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>
<manifest identifier="demo-giao-tiep" version="1.0" xmlns="http://www.imsproject.org/xsd/imscp_rootv1p1p2"
          xmlns:adlcp="http://www.adlnet.org/xsd/adlcp_rootv1p2">
  <metadata><schema>ADL SCORM</schema><schemaversion>1.2</schemaversion></metadata>
  <organizations default="org1">
    <organization identifier="org1"><title>Kỹ năng giao tiếp</title>
      <item identifier="i1" identifierref="r1"><title>Bài 1: Lắng nghe</title></item>
      <item identifier="i2" identifierref="r2"><title>Bài 2: Phản hồi</title></item>
    </organization>
  </organizations>
  <resources>
    <resource identifier="r1" type="webcontent" adlcp:scormtype="sco" href="index.html"><file href="index.html"/></resource>
    <resource identifier="r2" type="webcontent" adlcp:scormtype="sco" href="lessons/bai2.html"><file href="lessons/bai2.html"/></resource>
  </resources>
</manifest>"""
PAGE = "<!doctype html><html lang=\"vi\"><meta charset=\"utf-8\"><title>{0}</title><h1>{0}</h1></html>"


def scorm_package() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("imsmanifest.xml", MANIFEST)
        z.writestr("index.html", PAGE.format("Bài 1: Lắng nghe"))
        z.writestr("lessons/bai2.html", PAGE.format("Bài 2: Phản hồi"))
    return buf.getvalue()


def video() -> bytes:
    head = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"  # an MP4 'ftyp' box: what the type is sniffed from
    return head + os.urandom(3 * 1024 * 1024)


def main() -> None:
    with gateway() as c:
        teacher = sign_in(c, "teacher.demo", "dev-only-Teacher#2026")
        reviewer = sign_in(c, "officer.hcm.demo", "dev-only-Officer#2026")
        student = sign_in(c, "student.tc.demo", "dev-only-Student#2026")
        tag = uuid.uuid4().hex[:5]
        common = {"visibility": "platform", "levels": ["trung_cap"], "occupation_codes": ["5480201"], "keywords": ["giao tiếp"],
                  "description": "Lắng nghe chủ động và phản hồi tích cực nơi làm việc"}

        clip = video()
        obj = expect(c.post("/api/learning/v1/learning-objects", headers=teacher,
                            json=common | {"title": f"Kỹ năng giao tiếp nơi làm việc — lớp {tag}", "type": "video"}), 201).json()
        up = expect(c.post(f"/api/learning/v1/learning-objects/{obj['id']}/file", headers=teacher,
                           files={"file": ("Bài giảng giao tiếp.mp4", clip, "application/octet-stream")}), 201).json()["version"]["file"]
        check(up["content_type"] == "video/mp4" and up["sha256"] == hashlib.sha256(clip).hexdigest(), "video stored as video/mp4, sha256 matches")
        step(f"teacher.demo uploads a video ({len(clip) // 1024} KiB, sent as octet-stream, stored as {up['content_type']})")
        pkg = expect(c.post("/api/learning/v1/learning-objects", headers=teacher,
                            json=common | {"title": f"Kỹ năng giao tiếp: bài học tương tác — lớp {tag}", "type": "scorm"}), 201).json()
        up = expect(c.put(f"/api/learning/v1/learning-objects/{pkg['id']}/file", params={"filename": "giao-tiep.zip"},
                          content=scorm_package(), headers=teacher | {"Content-Type": "application/zip"}), 201).json()
        step(f"teacher.demo uploads a SCORM package: read as {up['version']['package']['kind']}")

        query = {"q": f"ky nang giao tiep lop {tag}"}
        before = expect(c.get("/api/learning/v1/search", params=query, headers=student)).json()["items"]
        check(before == [], "drafts are invisible to another school")
        for o in (obj, pkg):
            expect(c.post(f"/api/learning/v1/learning-objects/{o['id']}/submit", headers=teacher))
        own = c.post(f"/api/learning/v1/learning-objects/{obj['id']}/publish", json={"reason": "tự duyệt"}, headers=teacher)
        check(own.status_code == 403, "a teacher cannot publish platform-wide without review")
        step("both submitted; the teacher's own publish is refused (403)")
        for o in (obj, pkg):
            published = expect(c.post(f"/api/learning/v1/learning-objects/{o['id']}/publish", json={"reason": "Đạt yêu cầu"},
                                      headers=reviewer)).json()
            check(published["status"] == "published", "published by the reviewer")
        step("officer.hcm.demo reviews and publishes both")

        hits = expect(c.get("/api/learning/v1/search", params=query, headers=student)).json()["items"]
        step(f"student.tc.demo (TC7901) searches “{query['q']}”: {[h['title'] for h in hits]}")
        check({h["id"] for h in hits} == {obj["id"], pkg["id"]}, "both found without diacritics")

        r = c.get(f"/api/learning/v1/learning-objects/{obj['id']}/download", headers=student, follow_redirects=False)
        link = r.headers["location"] if r.is_redirect else expect(r).json()["url"]
        got = expect(c.get(path_of(link))).content
        check(hashlib.sha256(got).digest() == hashlib.sha256(clip).digest(), "the download is byte-identical")
        part = expect(c.get(path_of(link), headers={"Range": "bytes=0-1023"}), 206)
        check(part.content == clip[:1024], "a Range request returns those bytes")
        step("the video downloads byte for byte (and bytes 0–1023 by Range: 206)")

        launch = expect(c.get(f"/api/learning/v1/learning-objects/{pkg['id']}/launch", headers=student)).json()
        # the player is on the content origin (another host name of the gateway): its own origin, sandboxed
        first = expect(c.get(launch["launch_url"]))
        second = expect(c.get(launch["player_base"] + "lessons/bai2.html"))
        check("sandbox" in first.headers.get("content-security-policy", ""), "the package plays sandboxed")
        check("Bài 1" in first.text and "Bài 2" in second.text, "the player serves the package's pages")
        items = [i["title"] for i in launch["manifest"]["organisations"][0]["items"]]
        step(f"the package plays: {launch['kind']} launch {launch['launch_path']}, lessons {items}")
    print("library demo: OK")


if __name__ == "__main__":
    main()
