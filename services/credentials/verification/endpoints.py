"""Public verification: ``POST /v1/verify`` with a credential, ``GET /v1/verify/{id}`` for one issued here (JSON,
or the HTML page the diploma's QR code opens), and bulk verification for machine clients."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.common.auth import OptionalPrincipal, Principal, optional_principal, require_scopes
from services.common.db import DatabaseDep, SessionDep
from services.common.errors import NotFound, PayloadTooLarge, ValidationFailed
from services.common.limits import loads
from services.credentials.context import CtxDep, context_of
from services.credentials.proofs.contexts import VET_V1, bundled_text
from services.credentials.verification import lookup, page, service
from services.credentials.verification import repository as verification_repo
from services.credentials.verification.schemas import BulkVerify, BulkVerifyResult, LookupResult, VerificationResult

router = APIRouter(prefix="/v1/verify", tags=["verification"])
#: the JSON-LD context of the platform's own terms, at the URL its credentials name
contexts_router = APIRouter(tags=["verification"])
MAX_CREDENTIAL_BYTES = 1024 * 1024


def _log_rows(results: list[VerificationResult], channel: str, principal: Principal | None) -> list[dict[str, Any]]:
    client = (principal.client_id or principal.sub) if principal else None
    return [service.log_entry(r, channel=channel, client_id=client) for r in results]


@router.post("", response_model=VerificationResult, summary="Verify a credential (public, no account)",
             openapi_extra={"requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}, "required": True}})
async def verify_credential(request: Request, db: DatabaseDep, ctx: CtxDep, principal: OptionalPrincipal) -> Response:
    # the kit's body limit has refused a larger body before it was read (this route's limit: MAX_CREDENTIAL_BYTES)
    body = await request.body()
    if len(body) > MAX_CREDENTIAL_BYTES:
        raise PayloadTooLarge("A credential is at most 1 MiB.")
    document = loads(body)  # depth and size checked before parsing: every fault a 4xx naming the body
    if isinstance(document, dict) and "verifiableCredential" in document and "@context" not in document:
        document = document["verifiableCredential"]
    # no session unless a cache misses (an issuer's key, a status list's new version) or the registry is due: the
    # hot read is one statement on the driver, and the log row is written in a batch off the request path
    async with verification_repo.on_demand(db) as reads:
        result = await service.verify(reads, ctx, document)
    await ctx.verification_log.add(_log_rows([result], "public", principal))
    # the result is already a validated model: serialised once, not validated again against response_model
    return Response(result.model_dump_json(), media_type="application/json")


@router.post("/bulk", response_model=BulkVerifyResult, summary="Verify up to 1,000 credentials (scope credentials:verify:bulk)")
async def verify_bulk(
    body: BulkVerify, db: DatabaseDep, session: SessionDep, ctx: CtxDep,
    principal: Annotated[Principal, Depends(require_scopes("credentials:verify:bulk"))],
) -> BulkVerifyResult:
    if len(body.credentials) > ctx.settings.bulk_verify_max:
        raise ValidationFailed(f"At most {ctx.settings.bulk_verify_max} credentials per request.",
                               errors=[{"field": "credentials", "message": f"more than {ctx.settings.bulk_verify_max} items"}])
    # each credential as a public verification is: a session of its own only if needed, committed before the next
    # one, so a due registry refresh asks identity with no write transaction open (not in the request's session)
    results = []
    for doc in body.credentials:
        async with verification_repo.on_demand(db) as reads:
            results.append(await service.verify(reads, ctx, doc))
    await verification_repo.add_log(session, _log_rows(results, "bulk", principal))
    summary: dict[str, int] = {}
    for r in results:
        summary[r.outcome] = summary.get(r.outcome, 0) + 1
    return BulkVerifyResult(results=results, summary=summary)


@contexts_router.get("/ns/credentials/v1", summary="The JSON-LD context of the platform's credential terms, version 1 (public)")
async def vet_context_v1() -> Response:
    return Response(bundled_text(VET_V1), media_type="application/ld+json",
                    headers={"Cache-Control": "public, max-age=31536000, immutable"})


def wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept


@router.get("/{credential_id}", response_model=LookupResult,
            summary="Verify a credential issued here by its id (JSON; an HTML page for browsers, the QR code's target)",
            responses={200: {"content": {"text/html": {}}}})
async def verify_by_id(credential_id: str, request: Request) -> Response:
    # the QR code's target, the busiest read: no dependencies to resolve (each costs the framework more than the
    # reused answer itself); the context and the optional caller are taken from the request
    ctx = context_of(request)
    principal = await optional_principal(request)
    html = wants_html(request)
    try:
        cid = uuid.UUID(credential_id)
    except ValueError:
        raise NotFound(f"No credential {credential_id}.") from None
    # one statement reads what the answer depends on; the last answer is reused while that is unchanged
    # (verification/lookup.py), so a revocation shows on the very next request
    async with verification_repo.on_demand(ctx.db) as reads:
        answer = await lookup.verify_stored(reads, ctx, cid)
    if answer is None:
        if html:
            return page.html_response(page.not_found(credential_id), status_code=404)
        raise NotFound(f"No credential {credential_id}.")
    await ctx.verification_log.add(_log_rows([answer.result], "lookup", principal))
    headers = {"Cache-Control": "no-store"}
    if html:
        return page.html_response(answer.html(), headers=headers)  # type: ignore[arg-type]
    return Response(answer.json(), media_type="application/json", headers=headers)
