"""``GET /v1/verify/{id}`` — the page a diploma's QR code opens — answered from the last verification of the
same credential while nothing it depends on has changed.

A full verification (canonicalisation, signature, status lists) of a stored credential gives the same answer
until one of its inputs changes: the credential's row (status and its reason, the document's layout — it is
signed again when that changes —, its successor), its issuer's row (name, registry status) or the version of
either of its status lists (every revocation, suspension or reinstatement bumps it), or the clock crosses the
credential's validity bounds. Each request reads all of those in one statement
(:func:`~services.credentials.verification.repository.stored_state`, straight on the driver) and reuses the answer — result, page, JSON — only when every one is what it was when the answer was
made; any difference, a registry refresh that is due, or a credential not seen before takes the full path. A
revocation therefore shows on the very next request, on every replica.

The state is read *before* the full verification it labels: a change landing in between makes the stored state
older than the answer, so the next request sees a difference and verifies again — never the other way round.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from services.common.db import utcnow
from services.credentials.context import CredentialsContext
from services.credentials.issuers import service as issuers
from services.credentials.issuing import repository as credentials_repo
from services.credentials.verification import page, service
from services.credentials.verification import repository as verification_repo
from services.credentials.verification.schemas import CredentialView, LookupResult, VerificationResult

#: credentials whose last answer is kept (the least recently asked for goes first)
MAX_KEPT = 2048



def credential_view(doc: dict[str, Any]) -> CredentialView:
    subject = doc.get("credentialSubject") or {}
    issuer = doc.get("issuer")
    return CredentialView(
        title=doc.get("name") or "", holder_name=subject.get("name") or "", birth_date=subject.get("birthDate"),
        institution=issuer.get("name") if isinstance(issuer, dict) else None, graduation_year=subject.get("graduationYear"),
        classification=subject.get("classification"), serial_number=doc.get("serialNumber"),
        register_number=doc.get("registerNumber"), issued=doc.get("issueDate"),
    )


@dataclass
class Answer:
    """One credential's verification, as the page and the JSON show it (rendered once, when first asked for)."""

    result: VerificationResult
    lookup: LookupResult
    status_reason: str | None
    _html: bytes | None = field(default=None, repr=False)
    _json: bytes | None = field(default=None, repr=False)

    def html(self) -> bytes:
        if self._html is None:
            self._html = page.render(self.lookup, status_reason=self.status_reason).encode()
        return self._html

    def json(self) -> bytes:
        if self._json is None:
            self._json = self.lookup.model_dump_json().encode()
        return self._json


@dataclass
class _Kept:
    state: tuple[Any, ...]
    institution_code: str
    valid_from: datetime | None
    valid_until: datetime | None
    #: the day the issuer's activity was judged on when the document names no validFrom (else None)
    judged_on: date | None
    validity: str
    answer: Answer


class Lookups:
    """The kept answers of one app (``CredentialsContext.lookups``)."""

    def __init__(self, max_kept: int = MAX_KEPT) -> None:
        self.max_kept = max_kept
        self._kept: OrderedDict[uuid.UUID, _Kept] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, credential_id: uuid.UUID) -> _Kept | None:
        kept = self._kept.get(credential_id)
        if kept is not None:
            self._kept.move_to_end(credential_id)
        return kept

    def put(self, credential_id: uuid.UUID, kept: _Kept) -> None:
        self._kept[credential_id] = kept
        self._kept.move_to_end(credential_id)
        while len(self._kept) > self.max_kept:
            self._kept.popitem(last=False)


def _validity(valid_from: datetime | None, valid_until: datetime | None, now: datetime) -> str:
    if valid_from and valid_from > now + service.CLOCK_SKEW:
        return "not_yet_valid"
    if valid_until and valid_until < now - service.CLOCK_SKEW:
        return "expired"
    return "valid"


async def verify_stored(reads: verification_repo.Reads, ctx: CredentialsContext, credential_id: uuid.UUID) -> Answer | None:
    """The verification of the stored credential ``credential_id`` (None: there is none)."""
    state = await verification_repo.stored_state(reads, credential_id)
    if state is None:
        return None
    now = utcnow()
    lookups: Lookups = ctx.lookups
    kept = lookups.get(credential_id)
    if (kept is not None and kept.state == state and kept.validity == _validity(kept.valid_from, kept.valid_until, now)
            and (kept.judged_on is None or kept.judged_on == now.date())
            and not issuers.registry_refresh_due(ctx, kept.institution_code)):
        lookups.hits += 1
        return kept.answer
    lookups.misses += 1
    await issuers.refresh_ahead(ctx, state[0][5])  # identity asked before the write session opens
    row = await credentials_repo.by_id(await reads.session(), credential_id)
    if row is None:  # pragma: no cover - the state was just read
        return None
    document = row.document
    result = await service.verify(reads, ctx, document, now=now)
    answer = Answer(result, LookupResult(**result.model_dump(), credential=credential_view(document)), row.status_reason)
    valid_from = service._parse_time(document.get("validFrom"))
    valid_until = service._parse_time(document.get("validUntil"))
    lookups.put(credential_id, _Kept(state, row.institution_code, valid_from, valid_until,
                                     None if valid_from else now.date(), _validity(valid_from, valid_until, now), answer))
    return answer
