"""OWASP API Security Top 10 2023 — API8: Security Misconfiguration, for untrusted content. SCORM / cmi5 packages
are a teacher's HTML and script: they are served from a separate content origin (here the gateway under another
host name, as ``make run`` does), sandboxed by CSP without ``allow-same-origin``, and never on the platform's own
origin, where a citizen's session lives."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.e2e.gateway import gateway_for, on_gateway, sign_in
from tests.learning.helpers import INDEX_HTML, OFFICER, TEACHER, marker, scorm12
from tests.support import Platform


async def test_packages_play_only_on_the_content_origin_sandboxed(platform: Platform) -> None:
    async with gateway_for(platform, "learning") as gw:
        teacher, officer = await sign_in(gw, *TEACHER), await sign_in(gw, *OFFICER)
        r = await gw.post("/api/learning/v1/learning-objects", headers=teacher,
                          json={"title": f"Gói có mã độc {marker()}", "type": "scorm", "visibility": "platform"})
        assert r.status_code == 201, r.text
        obj = r.json()
        evil = "<script>fetch('/api/identity/v1/persons/me',{credentials:'include'})</script>"
        r = await gw.put(f"/api/learning/v1/learning-objects/{obj['id']}/file", params={"filename": "goi.zip"},
                         content=scorm12(extra={"evil.html": evil, "readme.txt": marker()}),
                         headers=teacher | {"Content-Type": "application/zip"})
        assert r.status_code == 201, r.text
        await gw.post(f"/api/learning/v1/learning-objects/{obj['id']}/submit", headers=teacher)
        r = await gw.post(f"/api/learning/v1/learning-objects/{obj['id']}/publish", json={"reason": "ok"}, headers=officer)
        assert r.status_code == 200, r.text
        launch = (await gw.get(f"/api/learning/v1/learning-objects/{obj['id']}/launch", headers=teacher)).json()

        content = await gw.get(launch["launch_url"])                      # http://localhost:8000/api/learning/v1/players/…
        script = await gw.get(launch["player_base"] + "evil.html")
        same_origin = await gw.get(on_gateway(launch["player_base"] + "evil.html"))  # the same path on 127.0.0.1:8000
    assert urlsplit(launch["launch_url"]).netloc == "localhost:8000" and urlsplit(launch["player_base"]).netloc == "localhost:8000"
    assert content.status_code == 200 and content.text == INDEX_HTML
    assert script.status_code == 200
    csp = script.headers["content-security-policy"]
    sandbox = next(d.split()[1:] for d in csp.split(";") if d.strip().startswith("sandbox"))
    assert "allow-scripts" in sandbox and "allow-same-origin" not in sandbox and "allow-top-navigation" not in sandbox
    assert "frame-ancestors" in csp
    assert same_origin.status_code == 404 and evil not in same_origin.text
