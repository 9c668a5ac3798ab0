from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

CheckName = Literal["structure", "issuer", "signature", "validity", "revocation", "suspension"]
Outcome = Literal[
    "valid", "malformed", "tampered", "unknown_issuer", "issuer_inactive", "expired", "not_yet_valid", "revoked",
    "suspended", "status_unavailable",
]


class Problem(BaseModel):
    """RFC 9457 problem details of one failed check."""

    type: str
    title: str
    status: int
    detail: str
    #: JSONPath of the offending part of the credential, where one is to blame
    path: str | None = None


class CheckResult(BaseModel):
    check: CheckName
    passed: bool | None = Field(description="true passed, false failed, null not applicable or not possible")
    problem: Problem | None = None
    detail: str | None = None


class IssuerInfo(BaseModel):
    id: str
    name: str | None = None
    institution_code: str | None = None
    known: bool


class VerificationResult(BaseModel):
    verified: bool
    outcome: Outcome
    credential_id: str | None = Field(default=None, description="the credential's id (urn:uuid:… for ours)")
    issuer: IssuerInfo | None = None
    checks: list[CheckResult]
    superseded_by: uuid.UUID | None = None


class CredentialView(BaseModel):
    """What an employer sees after scanning the QR code."""

    title: str
    holder_name: str
    birth_date: str | None = None
    institution: str | None = None
    graduation_year: int | None = None
    classification: str | None = None
    serial_number: str | None = None
    register_number: str | None = None
    issued: str | None = None


class LookupResult(VerificationResult):
    credential: CredentialView | None = None


class BulkVerify(BaseModel):
    credentials: list[dict[str, Any]] = Field(min_length=1)


class BulkVerifyResult(BaseModel):
    results: list[VerificationResult]
    summary: dict[str, int]
