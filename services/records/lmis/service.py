"""The labour-market feed (Decision 2222: the VET information system synchronised with the labour-market system;
Quảng Nam's labour, employment and VET database keyed by the personal ID number): graduates by occupation code,
level, province and year, as a bulk file (JSON pages or CSV) and as a change feed over records' own change log
(an enrolment that graduated, or whose graduation changed, is an ``upsert`` with the record as it stands; an
enrolment deleted or re-keyed a ``delete`` of the old key).

Pulled by a machine client with ``records:lmis`` (national officers may read it too). What a recipient sees of a
person is its rule (:class:`LmisRecipient`, set by national officers): the ID number in full, masked, or as a
pseudonym — an HMAC of the number under the service's secret and the recipient's id, the same for the same person
in every file this recipient gets, different for another recipient; names only if the rule says so; only the
provinces it lists. Without a rule: masked, no names."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.errors import Forbidden
from services.common.id_numbers import current_province
from services.common.permissions import is_national_officer
from services.common.privacy import mask_id_number
from services.records import access
from services.records.lmis import repository
from services.records.lmis.schemas import (
    COLUMNS,
    ChangePage,
    GraduateChange,
    GraduatePage,
    GraduateRecord,
    RecipientIn,
    RecipientRead,
)
from services.records.models import LmisRecipient

DEFAULT = LmisRecipient(client_id="", name="", id_numbers="masked", names=False, provinces=None, updated_by="", updated_at=None)


def may_pull(principal: Principal) -> bool:
    return principal.has_scope("records:lmis") or is_national_officer(principal) or access.is_platform_admin(principal)


async def rule_for(session: AsyncSession, principal: Principal) -> LmisRecipient:
    if not may_pull(principal):
        raise Forbidden("The labour-market feed is for labour-market systems (records:lmis) and national officers.")
    if principal.kind == "client" and principal.client_id:
        found = await repository.recipient(session, principal.client_id)
        if found is not None:
            return found
        return DEFAULT
    return LmisRecipient(client_id="", name="", id_numbers="full", names=True, provinces=None, updated_by="", updated_at=None)


def person_key(rule: LmisRecipient, secret: str, recipient: str, number: str) -> str:
    if rule.id_numbers == "full":
        return number
    if rule.id_numbers == "pseudonym":
        return hmac.new(secret.encode(), f"lmis:{recipient}:{number}".encode(), hashlib.sha256).hexdigest()[:32]
    return mask_id_number(number)


def record(rule: LmisRecipient, secret: str, recipient: str, row: dict[str, Any]) -> GraduateRecord:
    born = row["date_of_birth"]
    return GraduateRecord(
        person_key=person_key(rule, secret, recipient, row["id_number"]), id_number_form=rule.id_numbers,  # type: ignore[arg-type]
        full_name=row["full_name"] if rule.names else None, sex=row["sex"], birth_year=born.year if born else None,
        institution_code=row["institution_code"], province_code=row["province_code"], programme_code=row["programme_code"],
        occupation_code=row["occupation_code"], level=row["level"], graduation_year=row["graduation_year"],
        graduated_on=row["graduated_on"], classification=row["classification"])


def provinces(rule: LmisRecipient, province: str | None) -> set[str] | None:
    allowed = set(rule.provinces) if rule.provinces is not None else None
    if province is None:
        return allowed
    province = current_province(province)
    if allowed is not None and province not in allowed:
        raise Forbidden(f"Your feed does not cover province {province}.")
    return {province}


async def graduates(session: AsyncSession, principal: Principal, secret: str, *, year: int, province: str | None, occupation: str | None,
                    level: str | None, after: uuid.UUID | None, limit: int) -> GraduatePage:
    rule = await rule_for(session, principal)
    rows = await repository.graduates(session, year=year, provinces=provinces(rule, province), occupation=occupation, level=level,
                                      after=after, limit=limit)
    recipient = principal.client_id or principal.sub
    items = [record(rule, secret, recipient, r) for r in rows]
    return GraduatePage(items=items, next_after=str(rows[-1]["id"]) if len(rows) == limit else None)


async def changes(session: AsyncSession, principal: Principal, secret: str, *, since: int, limit: int) -> ChangePage:
    rule = await rule_for(session, principal)
    allowed = set(rule.provinces) if rule.provinces is not None else None
    recipient = principal.client_id or principal.sub
    upto = await repository.max_version(session)
    entries = await repository.enrolment_changes(session, since, upto, limit)
    items: list[GraduateChange] = []
    for change in entries:
        key = change.old_key if change.operation in ("delete", "key_change") and change.old_key else change.key
        if change.operation in ("delete", "key_change"):
            items.append(GraduateChange(version=change.version, operation="delete", institution_code=change.institution_code,
                                        programme_code=str(key.get("programme_code")),
                                        person_key=person_key(rule, secret, recipient, str(key.get("id_number"))), record=None))
            if change.operation == "delete":
                continue
        row = await repository.graduate_by_key(session, change.institution_code, str(change.key.get("id_number")),
                                               str(change.key.get("programme_code")))
        if row is None or (allowed is not None and row["province_code"] not in allowed):
            continue
        rec = record(rule, secret, recipient, row)
        items.append(GraduateChange(version=change.version, operation="upsert", institution_code=rec.institution_code,
                                    programme_code=rec.programme_code, person_key=rec.person_key, record=rec))
    next_since = entries[-1].version if len(entries) == limit else upto
    return ChangePage(items=items, next_since=max(next_since, since))


def to_csv(items: list[GraduateRecord]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    for item in items:
        values = item.model_dump(mode="json")
        w.writerow(["" if values[c] is None else values[c] for c in COLUMNS])
    return out.getvalue()


async def put_recipient(session: AsyncSession, principal: Principal, client_id: str, body: RecipientIn, now: datetime) -> tuple[RecipientRead, bool]:
    if not (is_national_officer(principal) or access.is_platform_admin(principal)):
        raise Forbidden("National officers set what each labour-market system receives.")
    found = await repository.recipient(session, client_id)
    created = found is None
    if found is None:
        found = LmisRecipient(client_id=client_id)
        session.add(found)
    found.name, found.id_numbers, found.names = body.name, body.id_numbers, body.names
    found.provinces = sorted({current_province(p) for p in body.provinces}) if body.provinces is not None else None
    found.updated_by, found.updated_at = access.actor_of(principal), now
    await session.flush()
    return RecipientRead.model_validate(found), created
