"""Helpers of the assessment tests: banks and items, exams with rosters, sitting them, citizens signed in with VNeID."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
from jose import jwt

from services.common.testing import FakeClock
from tests.learning.helpers import PASSWORD, login
from tests.support import Platform, id_number

OCCUPATION = "6520227"  # Điện công nghiệp


def module_code() -> str:
    """A module code no other test uses (banks are one per module and institution)."""
    return "MD" + uuid.uuid4().hex[:8].upper()


def claims(headers: dict[str, str]) -> dict[str, Any]:
    return jwt.get_unverified_claims(headers["Authorization"].split(" ", 1)[1])


async def account(platform: Platform, at: str, role: str, name: str = "Người học thử") -> tuple[dict[str, str], str]:
    """A new account with one membership: (its headers, its subject ``account:<id>``)."""
    username = f"as.{uuid.uuid4().hex[:10]}"
    async with platform.client("identity") as c:
        r = await c.post("/v1/accounts", json={"username": username, "full_name": name, "password": PASSWORD,
                                               "memberships": [{"at": at, "role": role}] if role else []},
                         headers=await platform.admin_headers())
    assert r.status_code == 201, r.text
    headers = await login(platform, username, PASSWORD)
    return headers, claims(headers)["sub"]


async def citizen(platform: Platform, name: str = "Nguyễn Thị Thu", gender: str = "female") -> tuple[dict[str, str], str, str]:
    """A citizen signed in through the VNeID stand-in: (headers, person id, personal ID number)."""
    number = id_number(century_gender=3 if gender == "female" else 2, yy=4)
    alias = uuid.uuid4().hex
    platform.vneid.citizens.append({"alias": alias, "personal_id": number, "name": name, "birthdate": "2004-02-10", "gender": gender})
    async with httpx.AsyncClient(transport=platform.transport, base_url="http://127.0.0.1:8001") as b:
        r = await b.get("/v1/auth/vneid/login", params={"login_hint": alias})
        assert r.status_code == 302, r.text
        consent = await b.get(r.headers["location"])
        assert consent.status_code == 302, consent.text
        callback = urlparse(consent.headers["location"])
        r = await b.get(callback.path, params=parse_qs(callback.query))
        assert r.status_code == 302, r.text
        code = parse_qs(urlparse(r.headers["location"]).query)["code"][0]
        r = await b.post("/v1/auth/vneid/token", json={"code": code})
        assert r.status_code == 200, r.text
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    return headers, claims(headers)["person_id"], number


async def bank(c: httpx.AsyncClient, teacher: dict[str, str], **kw: Any) -> dict[str, Any]:
    r = await c.post("/v1/item-banks", json={"occupation_code": OCCUPATION, "module_code": module_code(),
                                             "title": "Ngân hàng câu hỏi Kỹ thuật điện"} | kw, headers=teacher)
    assert r.status_code == 201, r.text
    return r.json()


async def item(c: httpx.AsyncClient, teacher: dict[str, str], bank_id: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await c.post(f"/v1/item-banks/{bank_id}/items", json=body, headers=teacher)
    assert r.status_code == 201, r.text
    return r.json()


def single(prompt: str, right: str, wrong: tuple[str, ...] = ("Sai 1", "Sai 2"), **kw: Any) -> dict[str, Any]:
    return {"kind": "single", "prompt": prompt, "choices": [{"text": right, "correct": True}] + [{"text": w} for w in wrong], **kw}


def window(clock: FakeClock, *, opens_in: float = 0, hours: float = 2) -> dict[str, str]:
    opens = clock.now() + timedelta(seconds=opens_in)
    return {"opens_at": opens.isoformat(), "closes_at": (opens + timedelta(hours=hours)).isoformat()}


async def exam(c: httpx.AsyncClient, teacher: dict[str, str], body: dict[str, Any], *, publish: bool = True) -> dict[str, Any]:
    r = await c.post("/v1/exams", json={"title": "Kiểm tra kết thúc mô-đun"} | body, headers=teacher)
    assert r.status_code == 201, r.text
    exam = r.json()
    if publish:
        r = await c.post(f"/v1/exams/{exam['id']}/publish", headers=teacher)
        assert r.status_code == 200, r.text
        exam = r.json()
    return exam


async def roster(c: httpx.AsyncClient, teacher: dict[str, str], exam_id: str, learners: list[dict[str, Any]]) -> list[dict[str, Any]]:
    r = await c.post(f"/v1/exams/{exam_id}/roster", json={"learners": learners}, headers=teacher)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def answer_for(shown: dict[str, Any], key: dict[str, Any], right: bool = True) -> Any:
    """What a learner who knows (``right``) or does not know the key answers, by the ids the form shows."""
    kind = shown["kind"]
    if kind == "single":
        ids = [c["id"] for c in shown["choices"]]
        good = key["ids"][0]
        return good if right else next(i for i in ids if i != good)
    if kind == "multiple":
        return list(key["ids"]) if right else []
    if kind == "true_false":
        return key["value"] if right else not key["value"]
    if kind == "numeric":
        return key["value"] if right else key["value"] + 1000
    if kind == "ordering":
        return list(key["order"]) if right else list(reversed(key["order"]))
    if kind == "cloze":
        return [b["accepted"][0] for b in key["blanks"]] if right else ["?" for _ in key["blanks"]]
    if kind == "matching":
        return dict(key["pairs"]) if right else {}
    raise AssertionError(kind)

