"""What the demo scripts share: a client of the gateway that stops the demo, loudly, on an unexpected answer."""

from __future__ import annotations

import sys
from typing import Any

import httpx

DEFAULT_GATEWAY = "http://127.0.0.1:8000"


class DemoFailed(SystemExit):
    pass


def gateway() -> httpx.Client:
    base = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_GATEWAY
    return httpx.Client(base_url=base, timeout=60)


def expect(r: httpx.Response, *codes: int) -> httpx.Response:
    if r.status_code not in (codes or (200,)):
        print(f"FAILED: {r.request.method} {r.request.url.path} → {r.status_code}\n{r.text[:800]}", file=sys.stderr)
        raise DemoFailed(1)
    return r


def check(condition: Any, what: str) -> None:
    if not condition:
        print(f"FAILED: {what}", file=sys.stderr)
        raise DemoFailed(1)


def sign_in(c: httpx.Client, username: str, password: str) -> dict[str, str]:
    r = expect(c.post("/api/identity/v1/auth/login", json={"username": username, "password": password}))
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def client_token(c: httpx.Client, client_id: str, secret: str) -> dict[str, str]:
    r = expect(c.post("/api/identity/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)))
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def path_of(url: str) -> str:
    """A link the platform handed out, as a path on the gateway the demo talks to."""
    u = httpx.URL(url)
    return u.raw_path.decode()


def step(text: str) -> None:
    print(f"• {text}", flush=True)
