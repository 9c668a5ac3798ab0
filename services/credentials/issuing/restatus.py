"""Signing again, in the current layout, the credentials issued before it: records without a ``document_format``
hold documents whose ``credentialStatus`` is an array of two entries (revocation and suspension), which Open Badges
3.0 does not allow (0..1).

Each such document keeps its id, its content and its revocation entry, verbatim; its ``credentialStatus`` becomes
that one entry, and it gets a new proof by its issuer's active key. Nothing else changes: the record's suspension
entry, the status lists and every bit in them stay as they are, so a revoked credential stays revoked and a
suspended one suspended, and the copies holders keep (two entries, the old proof) still point at lists and keys
that exist and still verify on the platform.

Resumable and idempotent: records still without a format are taken in batches, one transaction per batch (the
documents, their format and key, an audit entry per credential); a crash loses at most the batch under way and the
next run starts from what is left, and a document already in the current layout only has its format recorded. Any
replica may run it at the same time as another (PostgreSQL: ``FOR UPDATE SKIP LOCKED``). The service runs it in the
background at start and then every ``restatus_poll_seconds`` (so one an operator never has to remember, and that
also catches documents an old replica issued during a rolling upgrade); ``python -m services credentials-restatus``
runs it in the foreground."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import Database, claim_query, utcnow
from services.common.retry import RetryPolicy
from services.common.worker import LeasedWorker
from services.credentials.issuers import repository as issuers_repo
from services.credentials.issuers import service as issuers
from services.credentials.issuing.builder import DOCUMENT_FORMAT
from services.credentials.issuing.signing import BatchSigner, sign_documents
from services.credentials.models import Credential, Issuer, StatusChange
from services.credentials.proofs.keys import SigningKeys, open_raw

log = logging.getLogger("services.credentials.restatus")

ACTOR = "system:credentials-restatus"
ACTION = "resigned"


@dataclass
class Summary:
    #: documents signed again with one credentialStatus
    resigned: int = 0
    #: documents already in the current layout: only their format was recorded
    current: int = 0
    #: documents not understood (no single revocation entry matching the record, or no active issuer key): left as
    #: they are, logged, and tried again at the next run
    left: int = 0
    batches: int = 0

    def line(self) -> str:
        return (f"re-signed {self.resigned}, already current {self.current}, left unchanged {self.left} "
                f"(batches: {self.batches})")


def single_status(doc: dict[str, Any], row: Credential) -> dict[str, Any] | None:
    """The document's revocation entry if it is the one the record names (list and index), else ``None``."""
    entries = doc.get("credentialStatus")
    if not isinstance(entries, list):
        return None
    revocation = [e for e in entries if isinstance(e, dict) and e.get("statusPurpose") == "revocation"]
    if len(revocation) != 1:
        return None
    entry = revocation[0]
    url, index = entry.get("statusListCredential"), entry.get("statusListIndex")
    if entry.get("type") != "BitstringStatusListEntry" or not isinstance(url, str) or not url.endswith(f"/{row.revocation_list_id}"):
        return None
    if index != str(row.revocation_index):
        return None
    return entry


def restated(doc: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """The unsigned document with ``entry`` as its only ``credentialStatus``; the order of its keys kept."""
    return {k: (entry if k == "credentialStatus" else v) for k, v in doc.items() if k != "proof"}


async def _batch(session: AsyncSession, keys: SigningKeys, signer: BatchSigner | None, rows: Sequence[Credential],
                 summary: Summary) -> None:
    todo: dict[uuid.UUID, list[tuple[Credential, dict[str, Any]]]] = {}
    for row in rows:
        doc = row.document
        if isinstance(doc, dict) and isinstance(doc.get("credentialStatus"), dict):
            row.document_format = DOCUMENT_FORMAT
            summary.current += 1
            continue
        entry = single_status(doc, row) if isinstance(doc, dict) else None
        if entry is None:
            log.warning("credential %s: its credentialStatus is not the revocation and suspension entries of its "
                        "record; left as it is", row.id)
            summary.left += 1
            continue
        todo.setdefault(row.issuer_id, []).append((row, restated(doc, entry)))
    now = utcnow()
    for issuer_id, items in todo.items():
        issuer = await session.get(Issuer, issuer_id)
        key = await issuers_repo.active_key(session, issuer_id)
        if issuer is None or key is None:
            log.warning("issuer %s has no active key: %d credential(s) left as they are", issuer_id, len(items))
            summary.left += len(items)
            continue
        raw = open_raw(keys.protector, issuer.institution_code, key.key_id, key.sealed_private_key)
        vm = issuers.verification_method(issuer, key)
        documents = [doc for _, doc in items]
        if signer is not None:
            signed = await signer.sign(raw, vm, now, documents)
        else:
            signed = await asyncio.to_thread(sign_documents, raw, vm, now, documents)
        for (row, _), document in zip(items, signed, strict=True):
            row.document = document
            row.key_id = key.key_id
            row.document_format = DOCUMENT_FORMAT
            session.add(StatusChange(
                credential_id=row.id, action=ACTION, actor=ACTOR, request_id=None,
                reason=f"credentialStatus: the revocation entry only (Open Badges 3.0); the suspension entry stays with "
                       f"the platform; signed again by {vm}",
            ))
            summary.resigned += 1


async def run(db: Database, keys: SigningKeys, *, batch_size: int = 100, max_batches: int | None = None,
              signer: BatchSigner | None = None, progress: Callable[[Summary], None] | None = None) -> Summary:
    """Works through every record without a format (each visited once per run), one transaction per batch."""
    summary = Summary()
    after: uuid.UUID | None = None
    while max_batches is None or summary.batches < max_batches:
        async with db.session(write=True) as session:
            stmt = select(Credential).where(Credential.document_format.is_(None))
            if after is not None:
                stmt = stmt.where(Credential.id > after)
            rows = (await session.scalars(claim_query(db, stmt.order_by(Credential.id).limit(batch_size)))).all()
            if not rows:
                break
            after = rows[-1].id
            await _batch(session, keys, signer, rows, summary)
        summary.batches += 1
        if progress is not None:
            progress(summary)
    return summary


def worker(db: Database, keys: SigningKeys, signer: BatchSigner | None, *, batch_size: int,
           poll_seconds: float) -> LeasedWorker[bool]:
    """The service's background step: a run at start, then one every ``poll_seconds`` (real time). Per process, no
    lease (:meth:`LeasedWorker.periodic`): replicas may run it at once, each batch claimed with ``FOR UPDATE SKIP
    LOCKED``. A failed run (a database not reachable yet, a failed batch) is tried again after a back-off (1 s
    doubling, at most a minute or ``poll_seconds``), not a whole period later."""

    async def one_run() -> bool:
        summary = await run(db, keys, batch_size=batch_size, signer=signer)
        if summary.resigned or summary.left:
            log.info("credential documents signed again with one credentialStatus: %s", summary.line())
        return False

    return LeasedWorker.periodic("credentials restatus", one_run, poll_seconds=poll_seconds, logger=log,
                                 policy=RetryPolicy(max_delay=min(60.0, poll_seconds)))


async def run_forever(db: Database, keys: SigningKeys, signer: BatchSigner | None, *, batch_size: int,
                      poll_seconds: float) -> None:
    """:func:`worker` run in the caller's task until it is cancelled."""
    await worker(db, keys, signer, batch_size=batch_size, poll_seconds=poll_seconds).run()
