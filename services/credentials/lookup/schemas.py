from __future__ import annotations

from pydantic import BaseModel


class KindCounts(BaseModel):
    issued: int
    active: int
    revoked: int
    suspended: int


class InstitutionCredentials(BaseModel):
    """What anyone may know of an institution's credentials: counts, and how to check one. No personal data."""

    institution_code: str
    diplomas: KindCounts
    certificates: KindCounts
    #: where a credential is verified: ``{credential_id}`` is the id printed in its QR code
    verification_url_template: str
    #: the same check by API (POST the credential's document)
    verification_api: str
    #: the issuer's DID document, whose keys sign the institution's credentials (absent until the first issue)
    issuer_did_document: str | None
