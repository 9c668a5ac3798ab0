"""Verification: every check of a presented credential, each failure an RFC 9457 problem, and one outcome among
valid, malformed, tampered, unknown issuer, issuer inactive, expired, not yet valid, revoked, suspended and status
unavailable. Only the platform's own DID documents and status lists are consulted (read from its database, the
same signed documents it serves); nothing is fetched from addresses a credential names."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import utcnow
from services.common.errors import PROBLEM_BASE
from services.common.logging import request_id_var
from services.credentials.context import CredentialsContext
from services.credentials.issuers import repository as issuers_repo
from services.credentials.issuers import service as issuers
from services.credentials.models import Issuer
from services.credentials.proofs import canon, dataintegrity
from services.credentials.proofs.contexts import VC_V2
from services.credentials.proofs.multibase import MultibaseError, ed25519_from_multikey
from services.credentials.proofs.safemode import Malformed
from services.credentials.status import bitstring
from services.credentials.status import repository as status_repo
from services.credentials.verification import repository as verification_repo
from services.credentials.verification.schemas import CheckResult, IssuerInfo, Problem, VerificationResult

CLOCK_SKEW = timedelta(minutes=5)

PROBLEMS = {
    "malformed": (422, "Credential malformed", "credential-malformed"),
    "tampered": (422, "Signature not valid", "credential-tampered"),
    "unknown_issuer": (422, "Issuer unknown", "issuer-unknown"),
    "issuer_inactive": (422, "Issuer not active at issue date", "issuer-inactive"),
    "expired": (422, "Credential expired", "credential-expired"),
    "not_yet_valid": (422, "Credential not yet valid", "credential-not-yet-valid"),
    "revoked": (410, "Credential revoked", "credential-revoked"),
    "suspended": (423, "Credential suspended", "credential-suspended"),
    "status_unavailable": (503, "Status unavailable", "status-unavailable"),
}
#: the first failed outcome in this order is the credential's outcome
PRECEDENCE = ["malformed", "tampered", "unknown_issuer", "issuer_inactive", "expired", "not_yet_valid", "revoked",
              "suspended", "status_unavailable"]


def problem(kind: str, detail: str) -> Problem:
    status, title, slug = PROBLEMS[kind]
    return Problem(type=PROBLEM_BASE + slug, title=title, status=status, detail=detail)


@dataclass
class _Run:
    checks: dict[str, CheckResult]
    failures: list[str]

    def passed(self, name: str, detail: str | None = None) -> None:
        self.checks[name] = CheckResult(check=name, passed=True, detail=detail)  # type: ignore[arg-type]

    def skipped(self, name: str, detail: str) -> None:
        self.checks[name] = CheckResult(check=name, passed=None, detail=detail)  # type: ignore[arg-type]

    def failed(self, name: str, kind: str, detail: str, path: str | None = None) -> None:
        found = problem(kind, detail)
        found.path = path
        self.checks[name] = CheckResult(check=name, passed=False, problem=found)  # type: ignore[arg-type]
        self.failures.append(kind)


def _issuer_id(doc: dict[str, Any]) -> str | None:
    issuer = doc.get("issuer")
    if isinstance(issuer, dict):
        issuer = issuer.get("id")
    return issuer if isinstance(issuer, str) and issuer else None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


async def _structure(doc: Any, run: _Run) -> tuple[dict[str, Any], bytes] | None:
    """Shape, contexts, proof form; returns (proof, hash of the signed data) when the document can be checked."""
    if not isinstance(doc, dict):
        run.failed("structure", "malformed", "A credential is a JSON object.")
        return None
    contexts = doc.get("@context")
    if not isinstance(contexts, list) or not contexts or contexts[0] != VC_V2:
        run.failed("structure", "malformed", f"@context must be a list starting with {VC_V2} (VC Data Model 2.0).")
        return None
    types = doc.get("type")
    if not isinstance(types, list) or "VerifiableCredential" not in types:
        run.failed("structure", "malformed", "type must be a list containing VerifiableCredential.")
        return None
    if _issuer_id(doc) is None:
        run.failed("structure", "malformed", "issuer (or issuer.id) is required.")
        return None
    if not isinstance(doc.get("credentialSubject"), (dict, list)):
        run.failed("structure", "malformed", "credentialSubject is required.")
        return None
    for name in ("validFrom", "validUntil"):
        if name in doc and _parse_time(doc[name]) is None:
            run.failed("structure", "malformed", f"{name} must be an RFC 3339 date-time with a time zone.")
            return None
    try:
        proof = dataintegrity.single_proof(doc)
    except dataintegrity.ProofError as exc:
        run.failed("structure", "malformed", f"proof: {exc}.")
        return None
    try:
        # canonicalised on the event loop, or in a thread for the rare dataset that needs the general path
        digest = await canon.on_the_loop(dataintegrity.hash_data, doc, proof)
    except Malformed as exc:
        run.failed("structure", "malformed", f"{exc.path}: {exc.message}.", exc.path)
        return None
    run.passed("structure", "VC 2.0 with bundled contexts, one DataIntegrityProof (eddsa-rdfc-2022)")
    return proof, digest


async def _resolve_key(reads: verification_repo.Reads, ctx: CredentialsContext, issuer: verification_repo.IssuerRow | None, issuer_did: str,
                       vm: str) -> tuple[Ed25519PublicKey | None, str]:
    controller, _, fragment = vm.partition("#")
    if controller != issuer_did:
        return None, "the proof's verification method is not controlled by the issuer"
    if issuer is not None:
        # a key id's public key never changes once created (rotation adds keys), so the opened key is cached
        cache_key = (issuer.id, fragment)
        public = ctx.public_keys.get(cache_key)
        if public is None:
            raw = await issuers_repo.public_key(await reads.session(), issuer.id, fragment)
            if raw is None:
                return None, f"the issuer has no key {fragment}"
            public = ctx.public_keys[cache_key] = Ed25519PublicKey.from_public_bytes(raw)
        return public, ""
    if controller.startswith("did:key:"):
        multikey = controller.removeprefix("did:key:")
        try:
            if fragment and fragment != multikey:
                return None, "a did:key verification method names its own key"
            return Ed25519PublicKey.from_public_bytes(ed25519_from_multikey(multikey)), ""
        except MultibaseError:
            return None, "the did:key is not an Ed25519 key"
    return None, "the issuer's DID is not one this platform serves; its keys are not fetched"


StatusEntry = tuple[str, str, int, "uuid.UUID | None"]
#: the members of a BitstringStatusListEntry; a status entry with any other member is not understood
_ENTRY_MEMBERS = frozenset({"id", "type", "statusPurpose", "statusListIndex", "statusListCredential"})
_INDEX = re.compile(r"0|[1-9][0-9]{0,9}")


class _NotUnderstood(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path, self.message = path, message


def _status_entries(ctx: CredentialsContext, doc: dict[str, Any]) -> list[StatusEntry]:
    """The credential's status entries (purpose, list URL, index, our list's id if it is one of ours). Every entry
    must be understood — a BitstringStatusListEntry for revocation or suspension with exactly its members — or the
    credential is malformed (raises :class:`_NotUnderstood`): an entry that is skipped could hide a revocation.
    The document has passed the safe-mode checks, so what is read here is what the signature covers."""
    raw = doc.get("credentialStatus")
    if raw is None:
        return []
    entries = raw if isinstance(raw, list) else [raw]
    prefix = ctx.status_list_url("")
    parsed: list[StatusEntry] = []
    purposes: set[str] = set()
    for i, entry in enumerate(entries):
        path = f"$.credentialStatus[{i}]" if isinstance(raw, list) else "$.credentialStatus"
        if not isinstance(entry, dict):
            raise _NotUnderstood(path, "a status entry is an object")
        extra = set(entry) - _ENTRY_MEMBERS
        if extra:
            raise _NotUnderstood(f"{path}.{sorted(extra)[0]}", "this member of a status entry is not understood")
        types = entry.get("type")
        if types != "BitstringStatusListEntry" and types != ["BitstringStatusListEntry"]:
            raise _NotUnderstood(f"{path}.type", "only BitstringStatusListEntry status entries are understood")
        purpose = entry.get("statusPurpose")
        if purpose not in ("revocation", "suspension"):
            raise _NotUnderstood(f"{path}.statusPurpose", "the status purpose must be the string revocation or suspension")
        if purpose in purposes:
            raise _NotUnderstood(f"{path}.statusPurpose", f"the credential has two {purpose} entries")
        purposes.add(purpose)
        index = entry.get("statusListIndex")
        if not isinstance(index, str) or not _INDEX.fullmatch(index):
            raise _NotUnderstood(f"{path}.statusListIndex", "the index must be a non-negative integer in a string")
        url = entry.get("statusListCredential")
        if not isinstance(url, str):
            raise _NotUnderstood(f"{path}.statusListCredential", "the status list is named by its URL")
        if "id" in entry and (not isinstance(entry["id"], str) or entry["id"] == url):
            raise _NotUnderstood(f"{path}.id", "the entry's id is a URL other than its list's")
        list_id = None
        if url.startswith(prefix):
            try:
                list_id = uuid.UUID(url[len(prefix):])
            except ValueError:
                list_id = None
        parsed.append((purpose, url, int(index), list_id))
    return parsed


async def _status(reads: verification_repo.Reads, ctx: CredentialsContext, parsed: list[StatusEntry],
                  heads: dict[uuid.UUID, verification_repo.ListHead], issuer: verification_repo.IssuerRow | None, run: _Run) -> None:
    for purpose, url, index, list_id in parsed:
        bits = None
        head = heads.get(list_id) if list_id is not None else None
        if head is not None and issuer is not None and head.purpose == purpose and head.signed and index < head.size:
            bits = await _verified_bits(reads, ctx, issuer, head.id, head.version, purpose)
        if bits is None:
            run.failed(purpose, "status_unavailable", f"The {purpose} status list {url} cannot be read or verified.")
            continue
        if bitstring.get_bit(bits, index):
            kind = "revoked" if purpose == "revocation" else "suspended"
            run.failed(purpose, kind, f"The issuer has {kind} this credential.")
        else:
            run.passed(purpose, f"not {'revoked' if purpose == 'revocation' else 'suspended'} (Bitstring Status List entry {index})")
    for purpose in ("revocation", "suspension"):
        if purpose not in run.checks:
            run.skipped(purpose, f"the credential has no {purpose} entry")


async def _verified_bits(reads: verification_repo.Reads, ctx: CredentialsContext, issuer: verification_repo.IssuerRow,
                         list_id: uuid.UUID, version: int, purpose: str) -> bytes | None:
    """The list's bits, read from the signed list credential served to everyone, once its proof checks out. Cached
    by (list, version): a changed bit bumps the version, so a cached answer is never stale."""
    cache_key = (list_id, version, purpose)
    cached = ctx.status_cache.get(cache_key)
    if cached is not None:
        return cached
    row = await status_repo.by_id(await reads.session(), list_id)
    if row is None or row.version != version or row.document is None:
        return None
    doc = row.document
    try:
        proof = dataintegrity.single_proof(doc)
        key, _ = await _resolve_key(reads, ctx, issuer, issuer.did, proof["verificationMethod"])
        if key is None or not dataintegrity.verify(doc, key):
            return None
        subject = doc["credentialSubject"]
        # the list is what vc.js checks too: the issuer's, a BitstringStatusListCredential for this purpose
        if (_issuer_id(doc) != issuer.did or "BitstringStatusListCredential" not in doc["type"]
                or subject["type"] != "BitstringStatusList" or subject["statusPurpose"] != purpose):
            return None
        bits = bitstring.decode(subject["encodedList"])
    except (dataintegrity.ProofError, Malformed, KeyError, ValueError, TypeError, InvalidSignature):
        return None
    if len(ctx.status_cache) > 4096:
        ctx.status_cache.clear()
    ctx.status_cache[cache_key] = bits
    return bits


async def verify(session: AsyncSession | verification_repo.Reads, ctx: CredentialsContext, doc: Any, *,
                 now: datetime | None = None) -> VerificationResult:
    """Every check of ``doc``. ``session``: the request's session, or :class:`Reads` that open one only if needed."""
    reads = session if isinstance(session, verification_repo.Reads) else verification_repo.Reads(session)
    now = now or utcnow()
    run = _Run(checks={}, failures=[])
    issuer_info: IssuerInfo | None = None
    superseded_by = None
    credential_id = doc.get("id") if isinstance(doc, dict) and isinstance(doc.get("id"), str) else None

    structured = await _structure(doc, run)
    if structured is None:
        for name in ("issuer", "signature", "validity", "revocation", "suspension"):
            run.skipped(name, "not checked: the credential is malformed")
        return _result(run, credential_id, None, None)
    proof, digest = structured
    issuer_did = _issuer_id(doc)
    assert issuer_did is not None

    own_id = None
    if credential_id and credential_id.startswith("urn:uuid:"):
        try:
            own_id = uuid.UUID(credential_id.removeprefix("urn:uuid:"))
        except ValueError:
            own_id = None
    try:
        entries = _status_entries(ctx, doc)
    except _NotUnderstood as exc:
        run.failed("structure", "malformed", f"{exc.path}: {exc.message}; a status entry that is not understood fails verification.", exc.path)
        for name in ("issuer", "signature", "validity", "revocation", "suspension"):
            run.skipped(name, "not checked: the credential is malformed")
        return _result(run, credential_id, None, None)
    # one round trip: the issuer, whether this credential (if one of its own) was superseded and the suspension
    # entry kept for it, its status lists' heads
    state = await verification_repo.issuer_state(reads, issuer_did, own_id, {e[3] for e in entries if e[3] is not None})
    issuer, superseded_by, heads = state.issuer, state.superseded_by, state.heads
    if state.suspension is not None and not any(e[0] == "suspension" for e in entries):
        # documents name only their revocation entry (Open Badges 3.0 allows one credentialStatus); the suspension
        # of a credential of the platform's own is answered from the entry it keeps, in its signed suspension list
        list_id, index = state.suspension
        entries.append(("suspension", ctx.status_list_url(list_id), index, list_id))
    if issuer is None:
        run.failed("issuer", "unknown_issuer", f"{issuer_did} is not an issuer of the national VET platform.")
        issuer_info = IssuerInfo(id=issuer_did, known=False)
    else:
        if issuers.registry_refresh_due(ctx, issuer.institution_code):
            # identity asked before the write session opens; nothing written when it could not answer
            refreshed = await issuers.registry_refresh(ctx, issuer.institution_code)
            if refreshed is not None:
                own = await reads.session()
                row = await own.get(Issuer, issuer.id)
                assert row is not None
                issuers.apply_refresh(row, refreshed)
                issuer = verification_repo.IssuerRow.of(row)
        issued_on = (_parse_time(doc.get("validFrom")) or now).date()
        issuer_info = IssuerInfo(id=issuer_did, name=issuer.name, institution_code=issuer.institution_code, known=True)
        if issuers.active_on(issuer, issued_on):
            run.passed("issuer", f"{issuer.institution_code} in the institution registry, active on {issued_on}")
        else:
            run.failed("issuer", "issuer_inactive", f"Institution {issuer.institution_code} was {issuer.institution_status} on {issued_on}.")

    key, why = await _resolve_key(reads, ctx, issuer, issuer_did, proof["verificationMethod"])
    if key is None:
        if issuer is None:
            run.skipped("signature", f"not checked: {why}")
        else:
            run.failed("signature", "tampered", f"The proof cannot be checked: {why}.")
    else:
        try:
            signature = dataintegrity.signature_of(proof)
            key.verify(signature, digest)
            run.passed("signature", f"eddsa-rdfc-2022 by {proof['verificationMethod']}")
        except (dataintegrity.ProofError, InvalidSignature):
            run.failed("signature", "tampered", "The signature does not match the credential: it was altered after signing or not signed by this key.")

    valid_from, valid_until = _parse_time(doc.get("validFrom")), _parse_time(doc.get("validUntil"))
    if valid_from and valid_from > now + CLOCK_SKEW:
        run.failed("validity", "not_yet_valid", f"The credential is valid from {doc['validFrom']}.")
    elif valid_until and valid_until < now - CLOCK_SKEW:
        run.failed("validity", "expired", f"The credential expired on {doc['validUntil']}.")
    else:
        run.passed("validity", "within its validity period")

    await _status(reads, ctx, entries, heads, issuer, run)

    return _result(run, credential_id, issuer_info, superseded_by)


def _result(run: _Run, credential_id: str | None, issuer: IssuerInfo | None, superseded_by: uuid.UUID | None) -> VerificationResult:
    outcome = next((k for k in PRECEDENCE if k in run.failures), "valid")
    order = ["structure", "issuer", "signature", "validity", "revocation", "suspension"]
    return VerificationResult(
        verified=outcome == "valid", outcome=outcome, credential_id=credential_id, issuer=issuer,  # type: ignore[arg-type]
        checks=[run.checks[name] for name in order if name in run.checks], superseded_by=superseded_by,
    )


def log_entry(result: VerificationResult, *, channel: str, client_id: str | None) -> dict[str, Any]:
    """A log row without personal data: ids, outcome, which checks passed (written by
    :func:`verification.repository.add_log`)."""
    credential_uuid = None
    if result.credential_id and result.credential_id.startswith("urn:uuid:") and result.issuer and result.issuer.known:
        try:
            credential_uuid = uuid.UUID(result.credential_id.removeprefix("urn:uuid:"))
        except ValueError:
            credential_uuid = None
    return {
        "id": uuid.uuid4(), "at": utcnow(), "channel": channel, "client_id": client_id, "credential_id": credential_uuid,
        "issuer": result.issuer.id[:300] if result.issuer else None, "outcome": result.outcome,
        "checks": {c.check: c.passed for c in result.checks}, "request_id": request_id_var.get(),
    }
