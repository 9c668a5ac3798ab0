"""Public credential lookup linked to the digital map (Decision 2222, 2030): per institution, how many diplomas and
certificates were issued here and their status now, and the address format where any one of them is verified."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from services.common.db import ReadSessionDep
from services.credentials.context import CtxDep
from services.credentials.lookup import repository
from services.credentials.lookup.schemas import InstitutionCredentials, KindCounts

router = APIRouter(tags=["verification"])


@router.get("/v1/institutions/{code}/credential-counts", response_model=InstitutionCredentials,
            summary="Diplomas and certificates an institution issued here, by status, and how to verify one (public, no personal data)")
async def credential_counts(code: str, response: Response, session: ReadSessionDep, ctx: CtxDep) -> Any:
    """Read on the read replica when ``CREDENTIALS_DATABASE_READ_URL`` is set; cached by clients for five minutes.
    An institution that issued nothing here answers zeros (the registry, not this service, says whether it exists)."""
    counts: dict[str, dict[str, int]] = {"diploma": {}, "certificate": {}}
    for kind, status, n in await repository.counts(session, code):
        bucket = counts["diploma" if kind == "diploma" else "certificate"]
        bucket[status] = bucket.get(status, 0) + int(n)

    def of(bucket: dict[str, int]) -> KindCounts:
        return KindCounts(issued=sum(bucket.values()), active=bucket.get("active", 0), revoked=bucket.get("revoked", 0),
                          suspended=bucket.get("suspended", 0))

    base = ctx.public_base
    issuer = await repository.has_issuer(session, code)
    response.headers["Cache-Control"] = "public, max-age=300"
    return InstitutionCredentials(
        institution_code=code, diplomas=of(counts["diploma"]), certificates=of(counts["certificate"]),
        verification_url_template=f"{base}/verify/{{credential_id}}",
        verification_api=f"{base}/api/credentials/v1/verify",
        issuer_did_document=f"{base}/api/credentials/issuers/{code}/did.json" if issuer else None,
    )
