"""The two verifiers side by side: the platform (``POST /v1/verify`` through the in-process credentials app) and
Digital Bazaar's reference stack under node (``tests/credentials/interop/verify.mjs``, one process for a whole
batch, given the DID document and the status list credentials the platform serves). Also the genuine
credentials the differential and corpus tests start from, issued through the API with varied Vietnamese text."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from services.common.testing import in_ci
from tests.credentials.factories import diploma
from tests.support import Platform, gateway_to_service, id_number

__all__ = ["Genuine", "PlatformAnswer", "VcJsAnswer", "issue_genuine", "node_ready", "platform_verify", "served_documents",
           "vcjs_verify"]

INTEROP = Path(__file__).resolve().parent.parent / "interop"


def node_ready() -> None:
    """node and the reference stack (``npm ci`` from the committed lock file when missing); skipped without node
    unless CI is set (the interoperability, differential and rdf-canonize tests share it)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        if in_ci():
            pytest.fail("CI=true and node/npm are required for the tests against the reference verifier (vc.js)")
        pytest.skip("node and npm are not installed")
    if not (INTEROP / "node_modules" / "@digitalbazaar" / "vc").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=INTEROP, check=True, capture_output=True, timeout=600)


# --- the genuine credentials -----------------------------------------------------------------------------------------

def _bodies() -> dict[str, dict[str, Any]]:
    """Issue requests of the genuine credentials, by name: the kinds and levels there are, varied Vietnamese text
    (NFC names with stacked diacritics, Đ/đ, place names with commas), both genders, both training modes."""
    return {
        "diploma-college": diploma(
            holder={"full_name": "Đặng Thị Ngọc Ánh", "gender": "female", "date_of_birth": "2004-02-29",
                    "birth_place": "Thành phố Hồ Chí Minh", "id_number": id_number("079", 3, 4)},
            signer={"name": "Nguyễn Văn Hùng", "title": "Hiệu trưởng"}),
        "diploma-intermediate": diploma(
            level="intermediate",
            holder={"full_name": "Nguyễn Hữu Phước", "gender": "male", "date_of_birth": "2002-11-03",
                    "birth_place": "Quảng Ngãi", "id_number": id_number("051", 2, 2)},
            achievement={"code": "5480202", "name": "Kỹ thuật sửa chữa, lắp ráp máy tính", "occupation_code": "5480202",
                         "occupation_name": "Kỹ thuật sửa chữa, lắp ráp máy tính", "credits": 60},
            graduation={"mode": "part_time", "gpa": "3.75", "classification": "excellent",
                        "decision_number": "45/QĐ-TCN", "decision_date": "2026-07-15"},
            issue_place="Quảng Ngãi"),
        "certificate": diploma(
            kind="certificate", level="elementary",
            holder={"full_name": "Hồ Thị Thuỳ Dương", "gender": "female", "date_of_birth": "2001-08-19",
                    "birth_place": "Huế", "id_number": id_number("046", 3, 1)},
            achievement={"code": "4520227", "name": "Hàn điện cơ bản", "occupation_code": None, "occupation_name": None,
                         "credits": None, "hours": "300"},
            graduation={"gpa": None, "classification": "good", "decision_number": "07/QĐ-TTGDNN", "mode": None}),
        "course-certificate": diploma(
            kind="course_certificate", level="course",
            holder={"full_name": "Lý Thị Mỹ Duyên", "gender": "female", "date_of_birth": "2005-01-01",
                    "birth_place": "Cần Thơ", "id_number": None},
            achievement={"code": "KNGT-2026", "name": "Kỹ năng giao tiếp", "occupation_code": None, "occupation_name": None,
                         "credits": None, "hours": "8", "version": "2", "skill_area": "Giao tiếp và ứng xử"},
            graduation={"gpa": None, "classification": None, "decision_number": None, "decision_date": None, "mode": None,
                        "final_score": "86.5"},
            signer={"name": "Phạm Thị Lan", "title": "Giám đốc Trung tâm"}),
        "revoked": diploma(holder={"full_name": "Trần Văn Minh"}),
        "suspended": diploma(holder={"full_name": "Phạm Thị Hương", "gender": "female", "date_of_birth": "2003-09-09",
                                     "id_number": id_number("001", 3, 3)}),
    }


@dataclass
class Genuine:
    """Freshly issued credentials by name (``revoked`` and ``suspended`` in that state), and what each one's
    genuine verdict is."""

    documents: dict[str, dict[str, Any]]
    ids: dict[str, str]
    expected: dict[str, str] = field(default_factory=dict)

    def names(self) -> list[str]:
        return list(self.documents)


async def _post_issue(platform: Platform, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    async with platform.client("credentials") as c:
        r = await c.post("/v1/credentials", json=body, headers=headers)
    assert r.status_code == 201, f"issuing {body['kind']} for {body['holder']['full_name']}: {r.status_code} {r.text}"
    return r.json()  # type: ignore[no-any-return]


async def set_state(platform: Platform, credential_id: str, state: str) -> None:
    """Revokes or suspends a credential through the API."""
    if state == "active":
        return
    action = {"revoked": "revoke", "suspended": "suspend"}[state]
    async with platform.client("credentials") as c:
        r = await c.post(f"/v1/credentials/{credential_id}/{action}", json={"reason": f"differential test ({state})"},
                         headers=await platform.school_headers())
    assert r.status_code == 200, r.text


async def issue_one(platform: Platform, body: dict[str, Any], state: str = "active") -> dict[str, Any]:
    """Issues one credential (and revokes or suspends it); the API's answer with the signed ``document``."""
    issued = await _post_issue(platform, body, await platform.school_headers())
    await set_state(platform, issued["id"], state)
    return issued


async def issue_genuine(platform: Platform) -> Genuine:
    docs: dict[str, dict[str, Any]] = {}
    ids: dict[str, str] = {}
    expected: dict[str, str] = {}
    for name, body in _bodies().items():
        state = name if name in ("revoked", "suspended") else "active"
        issued = await issue_one(platform, body, state)
        docs[name], ids[name] = issued["document"], issued["id"]
        expected[name] = "valid" if state == "active" else state
    return Genuine(documents=docs, ids=ids, expected=expected)


def body(name: str) -> dict[str, Any]:
    """The issue request of one of the genuine credentials (``diploma-college``, ``course-certificate``, …)."""
    return _bodies()[name]


# --- what the platform serves ---------------------------------------------------------------------------------------

def _status_urls(value: Any) -> set[str]:
    """Every ``statusListCredential`` URL anywhere in a document (wherever a mutation moved it)."""
    urls: set[str] = set()
    if isinstance(value, dict):
        for key, child in value.items():
            if key.endswith("statusListCredential") and isinstance(child, str):
                urls.add(child)
            urls |= _status_urls(child)
    elif isinstance(value, list):
        for child in value:
            urls |= _status_urls(child)
    return urls


async def served_documents(platform: Platform, credentials: list[Any]) -> dict[str, Any]:
    """The issuer DID document and status list credentials, as the platform serves them now, that vc.js is given
    to resolve (it fetches nothing): the lists the given (genuine) credentials name. A URL a mutation made up is
    not served, so vc.js cannot load it."""
    docs: dict[str, Any] = {}
    async with platform.client("credentials") as c:
        r = await c.get("/issuers/CD0101/did.json")
        assert r.status_code == 200, r.text
        docs[r.json()["id"]] = r.json()
        prefix = "http://127.0.0.1:8000/api/credentials/"
        for url in sorted(set().union(*(_status_urls(doc) for doc in credentials))):
            if not url.startswith(prefix):
                continue
            r = await c.get(gateway_to_service(url))
            if r.status_code == 200:
                docs[url] = r.json()
    return docs


# --- the verdicts ------------------------------------------------------------------------------------------------------

@dataclass
class PlatformAnswer:
    status_code: int
    result: dict[str, Any] | None
    text: str

    @property
    def valid(self) -> bool:
        return self.status_code == 200 and self.result is not None and self.result.get("verified") is True

    @property
    def server_error(self) -> bool:
        return self.status_code >= 500

    def summary(self) -> str:
        if self.result is None:
            return f"HTTP {self.status_code}: {self.text[:300]}"
        failed = [f"{c['check']}: {(c.get('problem') or {}).get('detail') or c.get('detail')}"
                  for c in self.result.get("checks", []) if c.get("passed") is False]
        return f"{self.result.get('outcome')}" + (f" ({'; '.join(failed)[:300]})" if failed else "")


async def platform_verify(platform: Platform, documents: list[Any]) -> list[PlatformAnswer]:
    """``POST /v1/verify`` of each document, one request each. The body is serialised here with ASCII escapes, so
    that any string (a lone surrogate included) reaches the service as valid JSON."""
    answers: list[PlatformAnswer] = []
    async with platform.client("credentials") as c:
        for doc in documents:
            r = await c.post("/v1/verify", content=json.dumps(doc).encode(), headers={"Content-Type": "application/json"})
            try:
                result = r.json() if r.status_code == 200 else None
            except ValueError:
                result = None
            answers.append(PlatformAnswer(r.status_code, result, r.text))
    return answers


@dataclass
class VcJsAnswer:
    verified: bool
    status: list[dict[str, Any]]
    status_verified: bool | None
    error: str | None
    status_error: str | None

    @property
    def valid(self) -> bool:
        """vc.js's "valid": the proof verified, the status check ran and succeeded, and no status bit is set (vc.js
        reports a set revocation or suspension bit as a status value of true while still saying verified; a
        credential whose status vc.js did not check at all is not valid either — every credential here has
        status entries, and a status nobody checked proves nothing)."""
        return (self.verified and self.status_verified is True and bool(self.status)
                and all(s.get("value") is False for s in self.status))

    def summary(self) -> str:
        if not self.verified:
            return f"not verified: {(self.error or self.status_error or '')[:300]}"
        if self.status_verified is None:
            return "proof verified, but no status checked (vc.js found no credentialStatus it reads)"
        if self.status_verified is False:
            return f"proof verified, status check failed: {(self.status_error or '')[:300]}"
        return "verified, status " + ", ".join(f"{s.get('purpose')}={s.get('value')}" for s in self.status)


async def vcjs_verify(credentials: list[Any], documents: dict[str, Any]) -> list[VcJsAnswer]:
    """Verifies every credential with vc.js in one node process (``verify.mjs``)."""
    timeout = 120.0 + 0.5 * len(credentials)
    proc = await asyncio.create_subprocess_exec(
        "node", str(INTEROP / "verify.mjs"), cwd=INTEROP,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    payload = json.dumps({"credentials": credentials, "documents": documents}).encode()
    out, err = await asyncio.wait_for(proc.communicate(payload), timeout)
    assert proc.returncode == 0, f"verify.mjs failed: {err.decode()[-2000:]}"
    results = json.loads(out)
    assert len(results) == len(credentials), f"verify.mjs answered {len(results)} of {len(credentials)}"
    return [VcJsAnswer(verified=r.get("verified") is True, status=r.get("status") or [],
                       status_verified=r.get("statusVerified"), error=r.get("error"), status_error=r.get("statusError"))
            for r in results]
