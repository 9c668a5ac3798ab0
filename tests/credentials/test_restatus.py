"""Credentials issued before the single ``credentialStatus`` (their signed documents carry the two-entry array,
revocation and suspension) are signed again with one entry: by ``python -m services credentials-restatus`` and by
the service's background step. Revoked stays revoked, suspended stays suspended, holders' old copies still verify,
and running it again changes nothing."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from services.credentials.proofs import dataintegrity
from services.credentials.proofs.multibase import ed25519_from_multikey
from tests.credentials.factories import check, issue, verify
from tests.credentials.test_ob3_conformance import ob3_errors
from tests.support import Platform

ROOT = Path(__file__).resolve().parents[2]


async def _make_legacy(platform: Platform, credential_id: str) -> None:
    """Rewrites a credential's record as the platform stored it before: the document with both status entries,
    signed by the issuer's key with the service's own signing function, and no document format."""
    from services.credentials.issuers import repository as issuers_repo
    from services.credentials.models import Credential, Issuer
    from services.credentials.status import service as status_service

    app = platform.apps["credentials"]
    ctx = app.state.credentials
    async with app.state.db.session() as s:
        row = await s.get(Credential, uuid.UUID(credential_id))
        issuer = await s.get(Issuer, row.issuer_id)
        key = await issuers_repo.active_key(s, issuer.id)
        entries = [status_service.entry_json(ctx, "revocation", status_service.Entry(row.revocation_list_id, row.revocation_index)),
                   status_service.entry_json(ctx, "suspension", status_service.Entry(row.suspension_list_id, row.suspension_index))]
        assert row.document["credentialStatus"] == entries[0]
        unsigned = {k: (entries if k == "credentialStatus" else v) for k, v in row.document.items() if k != "proof"}
        private = ctx.keys.private_key(issuer.institution_code, key.key_id, key.sealed_private_key)
        row.document = dataintegrity.sign(unsigned, private, f"{issuer.did}#{key.key_id}", created=datetime(2026, 6, 30, tzinfo=UTC))
        row.document_format = None


async def _restatus_command(platform: Platform, *args: str) -> str:
    """``python -m services credentials-restatus`` in its own process, on the platform's credentials database; the
    event loop keeps running meanwhile, so the in-process services finish their own transactions (SQLite: one writer)."""
    settings = platform.settings["credentials"]
    env = os.environ | {"CREDENTIALS_DATABASE_URL": settings.database_url, "CREDENTIALS_ENVIRONMENT": "test",
                        "CREDENTIALS_KEY_ENCRYPTION_KEY": settings.key_encryption_key, "VET_LOG_LEVEL": "WARNING"}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "services", "credentials-restatus", *args, cwd=ROOT,
                                                env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode == 0, err.decode()[-3000:]
    return out.decode()


async def _document(platform: Platform, credential_id: str) -> dict[str, Any]:
    async with platform.client("credentials") as c:
        r = await c.get(f"/v1/credentials/{credential_id}", headers=await platform.school_headers())
    assert r.status_code == 200, r.text
    return r.json()


async def _public_key(platform: Platform, verification_method: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    async with platform.client("credentials") as c:
        did = (await c.get("/issuers/CD0101/did.json")).json()
    method = next(m for m in did["verificationMethod"] if m["id"] == verification_method)
    return Ed25519PublicKey.from_public_bytes(ed25519_from_multikey(method["publicKeyMultibase"]))


async def _audit(platform: Platform, credential_id: str) -> list[str]:
    from services.credentials.models import StatusChange

    app = platform.apps["credentials"]
    async with app.state.db.session(write=False) as s:
        rows = (await s.scalars(select(StatusChange).where(StatusChange.credential_id == uuid.UUID(credential_id))
                                .order_by(StatusChange.at))).all()
    return [r.action for r in rows]


async def _background_restatus_at_rest(platform: Platform) -> None:
    """The service's own restatus step runs once when it starts (this module's platform has just started), then
    an hour later: wait, with a deadline, for that first run to have ended, so the documents the test makes
    legacy afterwards are the command's to sign (the background run, delayed on a loaded machine, took them)."""
    worker = platform.apps["credentials"].state.workers["credentials restatus"]
    deadline = time.monotonic() + 60
    while not (worker.rounds >= 1 and worker.state == "waiting"):
        assert time.monotonic() < deadline, (worker.state, worker.rounds, worker.last_error)
        await asyncio.sleep(0.05)


async def test_restatus_command_signs_old_documents_again_and_keeps_every_status(platform: Platform) -> None:
    school = await platform.school_headers()
    await _background_restatus_at_rest(platform)
    creds = [await issue(platform) for _ in range(4)]
    active, revoked, suspended, lifted = (c["id"] for c in creds)
    for cid in (active, revoked, suspended, lifted):
        await _make_legacy(platform, cid)
    async with platform.client("credentials") as c:
        assert (await c.post(f"/v1/credentials/{revoked}/revoke", json={"reason": "Cấp sai đối tượng"}, headers=school)).status_code == 200
        assert (await c.post(f"/v1/credentials/{suspended}/suspend", json={"reason": "Đang xác minh hồ sơ"}, headers=school)).status_code == 200
        assert (await c.post(f"/v1/credentials/{lifted}/suspend", json={"reason": "Đang xác minh"}, headers=school)).status_code == 200
        assert (await c.post(f"/v1/credentials/{lifted}/unsuspend", json={"reason": "Hợp lệ"}, headers=school)).status_code == 200
    # the copies holders keep: the old two-entry documents
    before = {cid: await _document(platform, cid) for cid in (active, revoked, suspended, lifted)}
    for read in before.values():
        assert isinstance(read["document"]["credentialStatus"], list) and len(read["document"]["credentialStatus"]) == 2
        assert ob3_errors(read["document"])  # not OB 3.0: the reason for all this

    # resumable: one batch of one, then the rest
    first = await _restatus_command(platform, "--batch-size", "1", "--max-batches", "1")
    assert "re-signed 1," in first.splitlines()[-1], first
    await _restatus_command(platform, "--batch-size", "2")

    after = {cid: await _document(platform, cid) for cid in before}
    for cid, read in after.items():
        old, new = before[cid]["document"], read["document"]
        assert new["id"] == old["id"] == f"urn:uuid:{cid}"
        assert new["credentialStatus"] == old["credentialStatus"][0] and new["credentialStatus"]["statusPurpose"] == "revocation"
        assert {k: v for k, v in new.items() if k not in ("proof", "credentialStatus")} == \
               {k: v for k, v in old.items() if k not in ("proof", "credentialStatus")}
        assert list(new) == list(old)  # the same properties, in the same order
        assert new["proof"]["proofValue"] != old["proof"]["proofValue"]
        assert dataintegrity.verify(new, await _public_key(platform, new["proof"]["verificationMethod"]))
        assert ob3_errors(new) == []
        assert read["status"] == before[cid]["status"]  # the record's status is untouched
        assert (await _audit(platform, cid))[-1] == "resigned"
    assert [after[c]["status"] for c in (active, revoked, suspended, lifted)] == ["active", "revoked", "suspended", "active"]

    # through the platform's verifier: the new documents and the holders' old copies alike
    assert (await verify(platform, after[active]["document"]))["outcome"] == "valid"
    assert (await verify(platform, after[lifted]["document"]))["outcome"] == "valid"
    result = await verify(platform, after[revoked]["document"])
    assert result["outcome"] == "revoked" and check(result, "revocation")["problem"]["type"].endswith("/credential-revoked")
    result = await verify(platform, after[suspended]["document"])  # no suspension entry: answered from the record
    assert result["outcome"] == "suspended" and check(result, "suspension")["problem"]["type"].endswith("/credential-suspended")
    assert (await verify(platform, before[active]["document"]))["outcome"] == "valid"
    assert (await verify(platform, before[revoked]["document"]))["outcome"] == "revoked"
    assert (await verify(platform, before[suspended]["document"]))["outcome"] == "suspended"  # its entry is still served

    # the bits themselves: the revocation bit of the revoked one and the suspension bit of the suspended one still set
    from tests.credentials.test_status import _bit, _served_list, _suspension_entry

    entry = after[revoked]["document"]["credentialStatus"]
    assert _bit(await _served_list(platform, entry["statusListCredential"]), int(entry["statusListIndex"]))
    sus = await _suspension_entry(platform, suspended)
    assert sus == {k: before[suspended]["document"]["credentialStatus"][1][k] for k in ("statusListCredential", "statusListIndex")}
    assert _bit(await _served_list(platform, sus["statusListCredential"]), int(sus["statusListIndex"]))

    # idempotent: running it again changes nothing
    again = await _restatus_command(platform)
    assert "re-signed 0," in again.splitlines()[-1], again
    for cid in before:
        assert (await _document(platform, cid))["document"] == after[cid]["document"]
        assert (await _audit(platform, cid)).count("resigned") == 1


async def test_a_restarted_service_signs_what_is_left_in_the_background(platform: Platform) -> None:
    """The background step: a credentials replica started after the upgrade finds the old documents and signs them
    again (here a second app on the same database, as a restarted replica would)."""
    from services.credentials.app import create_app

    cred = await issue(platform)
    await _make_legacy(platform, cred["id"])
    old = (await _document(platform, cred["id"]))["document"]
    assert isinstance(old["credentialStatus"], list)
    settings = platform.settings["credentials"].model_copy(update={"jobs_enabled": False, "restatus_poll_seconds": 3600.0})
    replica = create_app(settings, http_transport=platform.transport)
    async with replica.router.lifespan_context(replica):
        deadline = asyncio.get_running_loop().time() + 60
        while isinstance((doc := (await _document(platform, cred["id"]))["document"])["credentialStatus"], list):
            assert asyncio.get_running_loop().time() < deadline, "the background step did not sign the document again"
            await asyncio.sleep(0.05)
    assert doc["credentialStatus"] == old["credentialStatus"][0]
    assert dataintegrity.verify(doc, await _public_key(platform, doc["proof"]["verificationMethod"]))
    assert (await verify(platform, doc))["outcome"] == "valid"
    assert (await _audit(platform, cred["id"]))[-1] == "resigned"
