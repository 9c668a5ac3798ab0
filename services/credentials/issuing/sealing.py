"""The holder's personal ID number (số định danh cá nhân) is kept by this service only as the salted hash that the
credential carries (an OB 3.0 ``IdentityObject``). A single issue request hashes it while it builds the document;
anything stored to be issued later — a batch job's items, a received event (inbox row and the job it becomes) —
is *sealed* when it is received: the number is replaced by its ``IdentityObject`` (hash and salt, exactly as the
builder would compute it) and the input's fingerprint for idempotency (computed over the input with the number,
the same value a direct request gets) is kept beside it. The worker that issues later uses both as they are.

Stored shape: ``holder.id_number`` is dropped, ``holder.id_number_sealed`` holds the ``IdentityObject`` (or
``{"error": …}`` when the number was malformed, so the item fails like the request would have), and
``input_fingerprint`` sits at the payload's top level."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import unicodedata
from datetime import date
from typing import Any

from pydantic import ValidationError

from services.common import id_numbers
from services.credentials.issuing.schemas import CredentialIssue

SEALED = "id_number_sealed"
FINGERPRINT = "input_fingerprint"


def identity_object(identity: str, kind: str, salt: str | None = None) -> dict[str, Any]:
    """OB 3.0 ``IdentityObject``: ``sha256$<hex of SHA-256(identity ‖ salt)>``, a fresh salt per credential so two
    credentials of one person cannot be linked by the hash."""
    salt = salt or secrets.token_hex(16)
    digest = hashlib.sha256((identity + salt).encode("utf-8")).hexdigest()
    return {"type": "IdentityObject", "identityHash": f"sha256${digest}", "identityType": kind, "hashed": True, "salt": salt}


def _nfc(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, dict):
        return {k: _nfc(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nfc(v) for v in value]
    return value


def input_fingerprint(secret_key: str, item: CredentialIssue) -> str:
    """Keyed hash of the issuing input (it contains the personal ID number, so never a bare hash). Text is signed
    as sent, but the fingerprint is taken over its NFC form: the same name sent once composed and once decomposed is
    the same input (a repeat finds the credential already issued), and inputs normalised before text was kept as
    sent fingerprint as they did then."""
    raw = json.dumps(_nfc(item.model_dump(mode="json")), sort_keys=True, ensure_ascii=False).encode()
    return hmac.new(secret_key.encode(), raw, hashlib.sha256).hexdigest()


def derived_salt(secret_key: str, name: str) -> str:
    """A salt fixed by a name (an event id) under the service's secret: a redelivered event is sealed to the same
    bytes (its Idempotency-Key replay matches), and nobody without the secret can predict it."""
    return hmac.new(secret_key.encode(), f"holder-salt:{name}".encode(), hashlib.sha256).hexdigest()[:32]


def seal_item(secret_key: str, item: CredentialIssue) -> dict[str, Any]:
    """A validated issuing input as it is stored in a job: without the ID number."""
    payload = item.model_dump(mode="json")
    number = payload["holder"].pop("id_number", None)
    if number is not None:
        payload["holder"][SEALED] = identity_object(number, "nationalIdentityNumber")
        payload[FINGERPRINT] = input_fingerprint(secret_key, item)
    return payload


def id_number_problem(number: Any, date_of_birth: Any = None, gender: Any = None) -> str | None:
    """Why a received personal ID number cannot be used (the kit's rules, as identity applies them, against the
    date of birth and gender given beside it when they are readable), or None. Never repeats the number."""
    if not isinstance(number, str) or not id_numbers.is_well_formed(number):
        return "a personal identification number has 12 digits"
    try:
        born = date.fromisoformat(date_of_birth) if isinstance(date_of_birth, str) else None
    except ValueError:
        born = None  # the issuing input's own validation names the date
    broken = id_numbers.check(number, date_of_birth=born, gender=gender if gender in ("male", "female") else None)
    return "; ".join(r.message for r in broken) or None


def seal_holder(holder: dict[str, Any], salt: str, *, date_of_birth: Any = None, gender: Any = None) -> None:
    """Replaces ``holder["id_number"]`` (if any) by its sealed form, in place (received data, not yet validated):
    the ``IdentityObject``, or ``{"error": …}`` when the number breaks a rule, checked against ``date_of_birth`` and
    ``gender`` (the issuing input's, as received) while the number is still at hand."""
    if "id_number" not in holder:
        return
    number = holder.pop("id_number")
    if number is None:
        return
    problem = id_number_problem(number, date_of_birth, gender)
    if problem is None:
        holder[SEALED] = identity_object(number, "nationalIdentityNumber", salt)
    else:
        holder[SEALED] = {"error": problem}


def fingerprint_of_payload(secret_key: str, payload: dict[str, Any]) -> str | None:
    """The fingerprint of a received payload that still carries the number, if it is a valid issuing input."""
    try:
        return input_fingerprint(secret_key, CredentialIssue.model_validate(payload))
    except (ValidationError, ValueError, TypeError):
        return None


def unseal(payload: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None, str | None]:
    """A stored payload split into the issuing input (without the seal), the sealed ``IdentityObject`` (or an
    ``{"error": …}``), and the stored fingerprint."""
    payload = dict(payload)
    fingerprint = payload.pop(FINGERPRINT, None)
    sealed = None
    holder = payload.get("holder")
    if isinstance(holder, dict) and SEALED in holder:
        holder = dict(holder)
        sealed = holder.pop(SEALED)
        payload["holder"] = holder
        if not (isinstance(sealed, dict) and ("error" in sealed or _is_identity_object(sealed))):
            sealed = {"error": "the sealed personal identification number is not a salted SHA-256 identity object"}
    return payload, sealed, fingerprint if isinstance(fingerprint, str) else None


def _is_identity_object(value: dict[str, Any]) -> bool:
    digest, salt = value.get("identityHash"), value.get("salt")
    return (value.get("type") == "IdentityObject" and value.get("hashed") is True and isinstance(salt, str) and bool(salt)
            and isinstance(digest, str) and re.fullmatch(r"sha256\$[0-9a-f]{64}", digest) is not None)
