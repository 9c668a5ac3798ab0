"""Issuing: single and batch through one path, idempotent on the natural key (institution, learner,
achievement, year). A repeat with the same data returns the credential already issued; a repeat with other data
is a conflict (corrections go through reissue). Every credential gets random revocation and suspension entries
(the document names only the revocation entry, its one ``credentialStatus``; the suspension entry stays in the
record, answered by the platform's verifier), a register number unique per institution and year, the issuer's
current key's proof, an audit entry and an ``issued`` event in the outbox — all in the caller's transaction."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic_core import to_json
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.db import utcnow
from services.common.errors import AppError, Conflict, Forbidden, NotFound, ServiceUnavailable, ValidationFailed
from services.common.logging import request_id_var
from services.common.permissions import ensure_institution, is_national_officer, person_id_of
from services.credentials.context import CredentialsContext
from services.credentials.issuers import repository as issuers_repo
from services.credentials.issuers import service as issuers
from services.credentials.issuing import builder, repository, sealing, wellformed
from services.credentials.issuing.schemas import CredentialIssue, CredentialRead, CredentialSummary, Reissue, item_errors
from services.credentials.issuing.signing import sign_documents
from services.credentials.models import Credential, Issuer, IssuerKey, StatusChange
from services.credentials.proofs.keys import open_raw
from services.credentials.status import service as status_service

ISSUER_ROLES = frozenset({"school_system", "school_admin"})
EVENT_ISSUED = "vn.vet.credentials.credential.issued"
EVENT_REVOKED = "vn.vet.credentials.credential.revoked"
EVENT_SUSPENDED = "vn.vet.credentials.credential.suspended"


@dataclass
class Outcome:
    status: Literal["issued", "existing", "failed"]
    credential: Credential | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)


def ensure_may_issue(principal: Principal, institution_code: str) -> None:
    if not (principal.has_scope("credentials:issue") or principal.has_scope("credentials:admin")):
        raise Forbidden("This call needs the scope credentials:issue.", missing_scopes=["credentials:issue"])
    ensure_institution(principal, institution_code, roles=ISSUER_ROLES)


def fingerprint(ctx: CredentialsContext, item: CredentialIssue) -> str:
    """Keyed hash of the issuing input (it contains the personal ID number, so never a bare hash); for an input
    sealed on receipt, the fingerprint computed then, over the input with its number."""
    return item.sealed_fingerprint or sealing.input_fingerprint(ctx.settings.secret_key, item)


def register_year(item: CredentialIssue, now: datetime) -> int:
    return (item.issue_date or now.astimezone(builder.VIETNAM).date()).year


def audit(session: AsyncSession, credential: Credential, action: str, actor: str, reason: str | None = None) -> None:
    session.add(StatusChange(credential_id=credential.id, action=action, reason=reason, actor=actor, request_id=request_id_var.get()))


def emit(session: AsyncSession, ctx: CredentialsContext, event_type: str, credential: Credential) -> None:
    ctx.outbox.emit(
        session,
        event_type,
        {
            "credential_id": str(credential.id),
            "type": credential.kind,
            "level": credential.level,
            "institution_code": credential.institution_code,
            "person_id": str(credential.person_id) if credential.person_id else None,
            "learner_id": credential.learner_id,
            "achievement_code": credential.achievement_code,
            "award_year": credential.award_year,
            "source_event_id": str(credential.source_event_id) if credential.source_event_id else None,
            "status": credential.status,
            "status_reason": credential.status_reason,
            "supersedes": str(credential.supersedes_id) if credential.supersedes_id else None,
        },
        subject=str(credential.id),
    )


async def issue_many(
    session: AsyncSession,
    ctx: CredentialsContext,
    items: list[CredentialIssue],
    *,
    actor: str,
    prefixes: list[str] | None = None,
    job_id: uuid.UUID | None = None,
    source_event_ids: list[uuid.UUID | None] | None = None,
    supersedes: Credential | None = None,
) -> list[Outcome]:
    """Issues ``items`` (all of one institution). Returns one outcome per item, in order."""
    if not items:
        return []
    code = items[0].institution_code
    assert all(i.institution_code == code for i in items)
    prefixes = prefixes or [""] * len(items)
    source_event_ids = source_event_ids or [None] * len(items)
    outcomes: list[Outcome | None] = [None] * len(items)
    now = utcnow()

    for i, item in enumerate(items):
        errors = item_errors(item, prefixes[i])
        if errors:
            outcomes[i] = Outcome("failed", errors=errors)

    issuer = await issuers.ensure(session, ctx, code)
    key = await issuers_repo.active_key(session, issuer.id)
    if key is None:
        raise ServiceUnavailable(f"Issuer {code} has no active key.")
    for i, item in enumerate(items):
        if outcomes[i] is None and (errors := document_errors(item, issuer, now, prefixes[i])):
            outcomes[i] = Outcome("failed", errors=errors)

    existing = {} if supersedes else await repository.latest_by_natural_keys(session, code, (i.learner_ref for i in items))
    prints = [fingerprint(ctx, item) for item in items]
    first_in_batch: dict[tuple[str, str, str, int], int] = {}
    fresh: list[int] = []
    duplicates: dict[int, int] = {}
    for i, item in enumerate(items):
        if outcomes[i] is not None:
            continue
        nk = item.natural_key()
        row = existing.get(nk)
        if row is not None:
            if row.input_fingerprint == prints[i] or row.revision > 1:
                outcomes[i] = Outcome("existing", row)
            else:
                outcomes[i] = Outcome("failed", errors=[{
                    "field": f"{prefixes[i]}achievement.code",
                    "message": f"credential {row.id} was already issued for this learner, achievement and year with other "
                               "data; correct it with POST /v1/credentials/{id}/reissue",
                    "credential_id": str(row.id),
                }])
        elif nk in first_in_batch:
            j = first_in_batch[nk]
            if prints[j] == prints[i]:
                duplicates[i] = j
            else:
                outcomes[i] = Outcome("failed", errors=[{"field": f"{prefixes[i]}learner_id",
                                                          "message": f"the same learner, achievement and year as item {j} with other data"}])
        else:
            first_in_batch[nk] = i
            fresh.append(i)

    # register numbers: given ones must be free (or belong to the credential being corrected)
    given: dict[tuple[int, str], int] = {}
    for i in list(fresh):
        number = items[i].register_number
        if number is None:
            continue
        slot = (register_year(items[i], now), number)
        if slot in given:
            outcomes[i] = Outcome("failed", errors=[{"field": f"{prefixes[i]}register_number", "message": f"used twice in this batch (item {given[slot]})"}])
            fresh.remove(i)
        else:
            given[slot] = i
    by_year: dict[int, list[str]] = {}
    for (year, number) in given:
        by_year.setdefault(year, []).append(number)
    for year, numbers in by_year.items():
        taken = await repository.register_numbers_taken(session, code, year, numbers)
        for number, row in taken.items():
            i = given[(year, number)]
            if supersedes is not None and row.id == supersedes.id:
                continue
            outcomes[i] = Outcome("failed", errors=[{"field": f"{prefixes[i]}register_number",
                                                      "message": f"register number {number} of {year} is already used by credential {row.id}"}])
            fresh.remove(i)

    if fresh:
        await _create(session, ctx, issuer, key, items, fresh, outcomes, actor=actor, now=now, job_id=job_id,
                      source_event_ids=source_event_ids, prints=prints, supersedes=supersedes)
    for i, j in duplicates.items():
        first = outcomes[j]
        outcomes[i] = Outcome("existing", first.credential if first else None)
    return [o if o is not None else Outcome("failed", errors=[{"field": "", "message": "not processed"}]) for o in outcomes]


#: where a problem found in a built credential comes from, in the issuing input
_SOURCE_OF = {
    "credentialSubject.achievement.id": "achievement.code",
    "issuer.id": "institution_code",
    "issuer.name": "institution_code",
}


def document_errors(item: CredentialIssue, issuer: Issuer, now: datetime, prefix: str = "") -> list[dict[str, str]]:
    """The item's credential built as it will be signed (but for its status entries and numbers), checked for
    IRIs that are not valid absolute IRIs and text that cannot be signed (``issuing/wellformed.py``): the input's
    own validation refuses these already, so this is the last line, and it also covers what does not come from the
    input (the issuer's DID and its name in the registry). Each problem names its input field."""
    probe = builder.build(
        item, credential_id=uuid.UUID(int=0), issuer_did=issuer.did, issuer_name=issuer.name, issued_at=now,
        numbers=builder.Numbers(item.serial_number or "0", item.register_number or "0"), status={},
    )
    errors = []
    for path, problem in wellformed.document_problems(probe):
        source = _SOURCE_OF.get(path)
        if path.startswith("issuer."):
            problem = f"the institution's {path.removeprefix('issuer.')} in the registry {problem}; it must be corrected there first"
        errors.append({"field": f"{prefix}{source}" if source else f"{prefix}document.{path}", "message": problem})
    return errors


async def _create(
    session: AsyncSession,
    ctx: CredentialsContext,
    issuer: Issuer,
    key: IssuerKey,
    items: list[CredentialIssue],
    fresh: list[int],
    outcomes: list[Outcome | None],
    *,
    actor: str,
    now: datetime,
    job_id: uuid.UUID | None,
    source_event_ids: list[uuid.UUID | None],
    prints: list[str],
    supersedes: Credential | None,
) -> None:
    code = issuer.institution_code
    # automatic register and serial numbers, from the institution's register counter of each year
    auto_years = Counter(register_year(items[i], now) for i in fresh if items[i].register_number is None)
    next_number = {year: await repository.reserve_register_numbers(session, code, year, n) for year, n in sorted(auto_years.items())}
    revocation = await status_service.allocate(session, ctx, issuer, key, "revocation", len(fresh))
    suspension = await status_service.allocate(session, ctx, issuer, key, "suspension", len(fresh))

    rows: list[Credential] = []
    documents: list[dict[str, Any]] = []
    for n, i in enumerate(fresh):
        item = items[i]
        year = register_year(item, now)
        if item.register_number is None:
            seq = next_number[year]
            next_number[year] += 1
            register = f"{seq:06d}/{year}"
            serial = item.serial_number or f"{code}-{year}-{seq:06d}"
        else:
            register = item.register_number
            serial = item.serial_number or f"{code}-{year}-{register}"
        if supersedes is not None:
            register = item.register_number or supersedes.register_number
            serial = item.serial_number or supersedes.serial_number
        credential_id = uuid.uuid4()
        status = status_service.entry_json(ctx, "revocation", revocation[n])
        documents.append(builder.build(
            item, credential_id=credential_id, issuer_did=issuer.did, issuer_name=issuer.name, issued_at=now,
            numbers=builder.Numbers(serial, register), status=status, supersedes=supersedes.id if supersedes else None,
        ))
        if problems := wellformed.document_problems(documents[-1]):
            # the input passed document_errors: what fails here is the service's own (status list URLs, numbers)
            raise RuntimeError(f"credential {credential_id} was built with parts that cannot be signed: {problems}")
        rows.append(Credential(
            id=credential_id, issuer_id=issuer.id, institution_code=code, kind=item.kind, level=item.level,
            learner_ref=item.learner_ref, person_id=item.person_id, learner_id=item.learner_id,
            achievement_code=item.achievement_ref, award_year=item.graduation.year,
            revision=(supersedes.revision + 1) if supersedes else 1,
            holder_name=item.holder.full_name, title=builder.title_of(item), serial_number=serial,
            register_number=register, register_year=year, input_fingerprint=prints[i], status="active",
            revocation_list_id=revocation[n].list_id, revocation_index=revocation[n].index,
            suspension_list_id=suspension[n].list_id, suspension_index=suspension[n].index,
            key_id=key.key_id, document_format=builder.DOCUMENT_FORMAT, supersedes_id=supersedes.id if supersedes else None,
            source_event_id=source_event_ids[i], job_id=job_id, issued_at=now,
        ))

    raw_key = open_raw(ctx.keys.protector, code, key.key_id, key.sealed_private_key)
    vm = issuers.verification_method(issuer, key)
    if len(documents) == 1:
        signed = sign_documents(raw_key, vm, now, documents)  # one signature: not worth a thread hop
    else:
        signed = await ctx.signer.sign(raw_key, vm, now, documents)
    for row, document in zip(rows, signed, strict=True):
        row.document = document
    try:
        async with session.begin_nested():
            session.add_all(rows)
            await session.flush()
    except IntegrityError as exc:
        # a concurrent request issued one of these natural keys or register numbers first: the retry sees it
        raise ServiceUnavailable("A concurrent request issued some of these credentials; retry.", headers={"Retry-After": "1"}) from exc
    for n, i in enumerate(fresh):
        row = rows[n]
        outcomes[i] = Outcome("issued", row)
        audit(session, row, "issued", actor)
        emit(session, ctx, EVENT_ISSUED, row)


async def issue_one(session: AsyncSession, ctx: CredentialsContext, principal: Principal, item: CredentialIssue) -> tuple[Credential, bool]:
    """(credential, created). Raises the item's problem."""
    ensure_may_issue(principal, item.institution_code)
    [outcome] = await issue_many(session, ctx, [item], actor=principal.sub)
    if outcome.status == "failed":
        conflict = next((e for e in outcome.errors if "credential_id" in e), None)
        if conflict is not None:
            raise Conflict(conflict["message"], errors=outcome.errors, credential_id=conflict["credential_id"])
        taken = any("already used" in e["message"] for e in outcome.errors)
        cls: type[AppError] = Conflict if taken else ValidationFailed
        raise cls("The credential cannot be issued: " + "; ".join(f"{e['field']}: {e['message']}" for e in outcome.errors),
                  errors=outcome.errors)
    assert outcome.credential is not None
    return outcome.credential, outcome.status == "issued"


# --- reads ------------------------------------------------------------------------------------------------------


def holds(principal: Principal, credential: Credential) -> bool:
    """The caller is the credential's holder: the person it was issued to, or, for one issued to a staff account
    without a person record (a teacher's course certificate: ``learner_id`` ``account:<id>``), that account."""
    person = person_id_of(principal)
    if person and credential.person_id:
        return person == str(credential.person_id)
    return (credential.person_id is None and principal.sub.startswith("account:")
            and credential.learner_id == principal.sub)


def may_read(principal: Principal, credential: Credential) -> bool:
    if principal.has_scope("credentials:admin") or is_national_officer(principal):
        return True
    if holds(principal, credential):
        return True
    return bool(set(principal.roles.get(credential.institution_code, [])) & {"school_system", "school_admin", "teacher"})


async def get_for(session: AsyncSession, principal: Principal, credential_id: uuid.UUID) -> Credential:
    row = await repository.by_id(session, credential_id)
    if row is None or not may_read(principal, row):
        # the same answer for "not there" and "not yours": ids are not confirmed to strangers
        raise NotFound(f"No credential {credential_id}.")
    return row


def to_read(ctx: CredentialsContext, row: Credential, issuer_did: str, *, with_document: bool = True) -> CredentialRead:
    return CredentialRead(
        id=row.id, institution_code=row.institution_code, issuer_did=issuer_did, kind=row.kind, level=row.level,
        title=row.title, holder_name=row.holder_name, person_id=row.person_id, learner_id=row.learner_id,
        achievement_code=row.achievement_code, award_year=row.award_year, revision=row.revision,
        serial_number=row.serial_number, register_number=row.register_number, status=row.status,
        status_reason=row.status_reason, supersedes=row.supersedes_id, superseded_by=row.superseded_by_id,
        verify_url=ctx.verify_url(row.id), issued_at=row.issued_at, document=row.document if with_document else None,
    )


async def credential_read(session: AsyncSession, ctx: CredentialsContext, row: Credential, *, with_document: bool = True) -> CredentialRead:
    """:func:`to_read` with the issuer's DID read."""
    return to_read(ctx, row, await issuers_repo.did_of(session, row.issuer_id), with_document=with_document)


#: a list's item, as :class:`CredentialSummary` has its fields
_SUMMARY_FIELDS = tuple(CredentialSummary.model_fields)


def summaries_json(rows: list[Any], next_cursor: str | None) -> bytes:
    """A page of a list's rows (``repository.SUMMARY``'s columns) as the JSON of ``Page[CredentialSummary]``, written
    straight from the rows: the same bytes as the models' ``model_dump_json`` (a test compares them), without a model
    per row (the list's rows come from the database, typed by its columns)."""
    return to_json({"items": [{name: getattr(r, name) for name in _SUMMARY_FIELDS} for r in rows], "next_cursor": next_cursor})


# --- status changes -------------------------------------------------------------------------------------------


async def _for_status_change(session: AsyncSession, principal: Principal, credential_id: uuid.UUID) -> Credential:
    row = await repository.by_id(session, credential_id, lock=True)
    if row is None:
        raise NotFound(f"No credential {credential_id}.")
    if not principal.has_scope("credentials:admin"):
        ensure_may_issue(principal, row.institution_code)
    return row


async def _set_status(session: AsyncSession, ctx: CredentialsContext, principal: Principal, row: Credential, *,
                      list_id: uuid.UUID, index: int, bit: bool, status: str, reason: str, action: str, event: str) -> Credential:
    """One status change: the bit in the served status list, the record, its audit entry and the event."""
    await status_service.set_bit(session, ctx, list_id, index, bit)
    row.status, row.status_reason = status, reason
    await session.flush()
    audit(session, row, action, principal.sub, reason)
    emit(session, ctx, event, row)
    return row


async def revoke(session: AsyncSession, ctx: CredentialsContext, principal: Principal, credential_id: uuid.UUID, reason: str, *,
                 action: str = "revoked") -> Credential:
    row = await _for_status_change(session, principal, credential_id)
    if row.status == "revoked":
        return row  # idempotent: revoking twice changes nothing
    return await _set_status(session, ctx, principal, row, list_id=row.revocation_list_id, index=row.revocation_index, bit=True,
                             status="revoked", reason=reason, action=action, event=EVENT_REVOKED)


async def suspend(session: AsyncSession, ctx: CredentialsContext, principal: Principal, credential_id: uuid.UUID, reason: str) -> Credential:
    row = await _for_status_change(session, principal, credential_id)
    if row.status == "revoked":
        raise Conflict("A revoked credential cannot be suspended.", errors=[{"field": "status", "message": "revoked"}])
    if row.status == "suspended":
        return row
    return await _set_status(session, ctx, principal, row, list_id=row.suspension_list_id, index=row.suspension_index, bit=True,
                             status="suspended", reason=reason, action="suspended", event=EVENT_SUSPENDED)


async def unsuspend(session: AsyncSession, ctx: CredentialsContext, principal: Principal, credential_id: uuid.UUID, reason: str) -> Credential:
    row = await _for_status_change(session, principal, credential_id)
    if row.status == "revoked":
        raise Conflict("A revoked credential cannot be reinstated.", errors=[{"field": "status", "message": "revoked"}])
    if row.status == "active":
        return row
    # the credential is valid again: receivers see it as "issued" with status active
    return await _set_status(session, ctx, principal, row, list_id=row.suspension_list_id, index=row.suspension_index, bit=False,
                             status="active", reason=reason, action="unsuspended", event=EVENT_ISSUED)


async def reissue(session: AsyncSession, ctx: CredentialsContext, principal: Principal, credential_id: uuid.UUID, body: Reissue) -> Credential:
    """Correction: the old credential is revoked with reason "superseded" and a new one issued with the changes,
    linked both ways (``supersedes`` in the new signed document; ``superseded_by`` on the old record)."""
    old = await _for_status_change(session, principal, credential_id)
    if old.superseded_by_id is not None:
        raise Conflict(f"Credential {old.id} was already superseded by {old.superseded_by_id}; correct that one.",
                       errors=[{"field": "credential_id", "message": "already superseded"}], superseded_by=str(old.superseded_by_id))
    base = issue_input_of(old)
    changes = body.model_dump(exclude_unset=True, exclude={"reason"})
    for name, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(name), dict):
            base[name] = base[name] | value
        else:
            base[name] = value
    try:
        item = CredentialIssue.model_validate(base)
    except Exception as exc:  # pydantic ValidationError: name the fields
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in getattr(exc, "errors", lambda: [])()]
        raise ValidationFailed("The corrected credential is not valid.", errors=errors) from None
    if item.natural_key() != (old.institution_code, old.learner_ref, old.achievement_code, old.award_year):
        raise ValidationFailed("A correction keeps the learner, achievement and year; issue a new credential instead.",
                               errors=[{"field": "achievement.code", "message": "changes the natural key"}])
    reason = body.reason
    await revoke(session, ctx, principal, old.id, f"superseded: {reason}", action="superseded")
    [outcome] = await issue_many(session, ctx, [item], actor=principal.sub, supersedes=old)
    if outcome.status != "issued" or outcome.credential is None:
        raise ValidationFailed("The corrected credential cannot be issued.", errors=outcome.errors)
    new = outcome.credential
    old.superseded_by_id = new.id
    old.status_reason = f"superseded by {new.id}: {reason}"
    await session.flush()
    return new


def issue_input_of(row: Credential) -> dict[str, Any]:
    """The issuing input, rebuilt from the signed document (the personal ID number is not kept, so a correction
    carries the hash forward only if the caller sends the number again)."""
    doc = row.document
    subject = doc.get("credentialSubject", {})
    ach = subject.get("achievement", {})
    inv = {v: k for k, v in builder.CLASSIFICATIONS.items()}
    modes = {v: k for k, v in builder.MODES.items()}
    genders = {v: k for k, v in builder.GENDERS.items()}
    signer = doc.get("signer")
    return {
        "institution_code": row.institution_code,
        "kind": row.kind,
        "level": row.level,
        "person_id": str(row.person_id) if row.person_id else None,
        "learner_id": row.learner_id,
        "holder": {k: v for k, v in {
            "full_name": subject.get("name"), "date_of_birth": subject.get("birthDate"),
            "gender": genders.get(subject.get("gender")), "birth_place": subject.get("birthPlace"),
        }.items() if v is not None},
        "achievement": {k: v for k, v in {
            "code": row.achievement_code.removeprefix("course:"), "name": ach.get("name"),
            "occupation_code": ach.get("occupationCode"),
            "occupation_name": ach.get("fieldOfStudy") if ach.get("occupationCode") else None,
            "credits": ach.get("creditsAvailable"), "hours": ach.get("trainingHours"), "version": ach.get("version"),
            "skill_area": ach.get("skillArea"),
        }.items() if v is not None},
        "graduation": {k: v for k, v in {
            "year": row.award_year, "decision_number": subject.get("graduationDecision"), "decision_date": subject.get("decisionDate"),
            "mode": modes.get(subject.get("trainingMode")), "gpa": subject.get("gpa"),
            "classification": inv.get(subject.get("classification")), "final_score": subject.get("finalScore"),
        }.items() if v is not None},
        "serial_number": row.serial_number,
        "register_number": row.register_number,
        "issue_place": doc.get("issuePlace"),
        "signer": {"name": signer.get("name"), "title": signer.get("jobTitle")} if isinstance(signer, dict) else None,
    }
