"""Credit transfer (liên thông) and recognition of prior learning (công nhận) over HTTP: an institution's
equivalence rules, the learner's request and the institution's per-module decisions, RPL assessments with their
evidence files, an enrolment's recognised modules."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query, Request, Response

from services.common.auth import CurrentPrincipal
from services.common.db import SessionDep
from services.common.errors import NotFound, ValidationFailed, problem_body, problem_response
from services.common.pagination import Page, PageDep
from services.common.permissions import person_id_of
from services.records import access
from services.records.context import RecordsCtxDep
from services.records.recognition import service
from services.records.recognition.dependencies import NowDep, StoreDep, VerifierDep
from services.records.recognition.schemas import (
    AssessmentDecisionIn,
    AssessmentIn,
    AssessmentRead,
    DecisionIn,
    Evidence,
    EvidenceDownload,
    RecognisedRead,
    RequestIn,
    RequestRead,
    RuleIn,
    RuleRead,
)

router = APIRouter(tags=["credit transfer and recognition"])
InstitutionCode = Annotated[str, Path(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9._\-]+$")]
Code = Annotated[str, Path(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9._\-/]+$")]
FileName = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[\w.\- ()]+$")]


# -- equivalence rules -----------------------------------------------------------------------------------------------
@router.put("/v1/institutions/{code}/programmes/{programme_code}/equivalences/{rule_code}", response_model=RuleRead,
            summary="Create or change an equivalence rule: which prior module, diploma or work experience recognises a module")
async def put_rule(code: InstitutionCode, programme_code: Code, rule_code: Code, body: RuleIn, ctx: RecordsCtxDep, response: Response,
                   session: SessionDep, principal: CurrentPrincipal) -> RuleRead:
    access.ensure_write(principal, code)
    await access.institution(session, ctx, code)
    rule, created = await service.put_rule(session, await service.programme_of(session, code, programme_code), rule_code, body)
    response.status_code = 201 if created else 200
    return rule


@router.get("/v1/institutions/{code}/programmes/{programme_code}/equivalences", response_model=list[RuleRead],
            summary="A programme's equivalence rules")
async def list_rules(code: InstitutionCode, programme_code: Code, ctx: RecordsCtxDep, session: SessionDep,
                     principal: CurrentPrincipal) -> list[RuleRead]:
    access.ensure_read(principal, await access.institution(session, ctx, code))
    return await service.rules_read(session, await service.programme_of(session, code, programme_code))


# -- the learner's request -------------------------------------------------------------------------------------------
@router.put("/v1/recognition/me/{institution_code}/{programme_code}", response_model=RequestRead,
            summary="The signed-in learner asks the institution to recognise prior learning for their enrolment (their records "
                    "on the platform, and credentials they present, each verified)")
async def put_my_request(institution_code: InstitutionCode, programme_code: Code, body: RequestIn, response: Response,
                         ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal, verifier: VerifierDep,
                         now: NowDep) -> RequestRead:
    # the enrolment checked on a short read, the credentials verified with no transaction open, then the request
    # written in the request's write transaction: no call to another service inside it
    async with ctx.db.session(write=False) as peek:
        await service.current_enrolment(peek, principal, institution_code, programme_code)
    verified = await service.verify_credentials(verifier, body)
    doc, created = await service.put_request(session, principal, institution_code, programme_code, body, verified, now)
    response.status_code = 201 if created else 200
    return doc


@router.get("/v1/recognition/me", response_model=list[RequestRead], summary="The signed-in learner's recognition requests")
async def my_requests(session: SessionDep, principal: CurrentPrincipal) -> list[RequestRead]:
    return await service.my_requests(session, principal)


@router.get("/v1/recognition/me/rpl-assessments", response_model=Page[AssessmentRead],
            summary="The signed-in learner's own RPL assessments (work experience assessed against a module), paginated")
async def my_assessments(session: SessionDep, principal: CurrentPrincipal, page: PageDep) -> Page[AssessmentRead]:
    return await service.my_assessments(session, principal, page)


@router.get("/v1/institutions/{code}/recognition-requests", response_model=list[RequestRead],
            summary="Recognition requests made to an institution")
async def institution_requests(code: InstitutionCode, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal,
                               status: Annotated[Literal["submitted", "decided"] | None, Query()] = None) -> list[RequestRead]:
    access.ensure_read(principal, await access.institution(session, ctx, code))
    return await service.institution_requests(session, code, status)


@router.get("/v1/recognition-requests/{request_id}", response_model=RequestRead, summary="One recognition request with its items")
async def get_request(request_id: uuid.UUID, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal) -> RequestRead:
    row = await service.request_of(session, request_id)
    service.ensure_readable(principal, row, await access.institution(session, ctx, row.institution_code))
    return await service.request_read(session, row)


@router.put("/v1/recognition-requests/{request_id}/items/{item_id}/decision", response_model=RequestRead,
            summary="Approve or refuse one item (a receiving module against a prior result) with a reason")
async def decide_item(request_id: uuid.UUID, item_id: uuid.UUID, body: DecisionIn, request: Request, session: SessionDep,
                      principal: CurrentPrincipal, now: NowDep) -> RequestRead | Response:
    row = await service.request_of(session, request_id)
    access.ensure_write(principal, row.institution_code)
    result = await service.decide_item(session, row, item_id, body, access.actor_of(principal), now)
    if isinstance(result, ValidationFailed):  # refused, the item's updated checks committed with the request
        return problem_response(problem_body(result.status, result.title, result.detail, slug=result.slug, instance=request.url.path,
                                             errors=result.errors))
    return result


# -- RPL ---------------------------------------------------------------------------------------------------------------
@router.put("/v1/enrolments/{enrolment_id}/rpl/{module_code}", response_model=AssessmentRead,
            summary="Open or change the assessment of a learner's work experience against one module (assessor, panel)")
async def put_assessment(enrolment_id: uuid.UUID, module_code: Code, body: AssessmentIn, ctx: RecordsCtxDep, response: Response,
                         session: SessionDep, principal: CurrentPrincipal) -> AssessmentRead:
    # read on a short read session first: identity (the panel's registry entries) is asked before the write
    # transaction opens
    async with ctx.db.session(write=False) as peek:
        seen = await service.enrolment_of(peek, enrolment_id)
    access.ensure_write(principal, seen[0].institution_code)
    # an organisation on the panel is one the registry knows: an enterprise, or the institution itself
    registered = {m.institution_code: await access.institution(session, ctx, m.institution_code) for m in body.panel if m.institution_code}
    service.check_panel(body, seen[0].institution_code, registered)
    found = await service.enrolment_of(session, enrolment_id)
    doc, created = await service.put_assessment(session, found, module_code, body)
    response.status_code = 201 if created else 200
    return doc


@router.get("/v1/rpl-assessments/{assessment_id}", response_model=AssessmentRead, summary="One RPL assessment")
async def get_assessment(assessment_id: uuid.UUID, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal) -> AssessmentRead:
    a = await service.assessment_of(session, assessment_id)
    if not service.may_read_assessment(principal, a, await access.institution(session, ctx, a.institution_code)):
        raise NotFound("No such assessment.")
    return service.assessment_read(a)


@router.put("/v1/rpl-assessments/{assessment_id}/evidence/{name}", response_model=AssessmentRead,
            summary="Upload one evidence file (PDF, JPEG, PNG, MP4) to the object store; the same name replaces it",
            openapi_extra={"requestBody": {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
                                           "required": True}})
async def put_evidence(assessment_id: uuid.UUID, name: FileName, request: Request, session: SessionDep, principal: CurrentPrincipal,
                       store: StoreDep, content_type: Annotated[str, Header(max_length=200)] = "application/octet-stream",
                       content_length: Annotated[int | None, Header(ge=0)] = None) -> AssessmentRead:
    a = await service.assessment_of(session, assessment_id)
    access.ensure_write(principal, a.institution_code)
    return await service.add_evidence(session, store, a, name, content_type, request.stream(), content_length)


@router.get("/v1/rpl-assessments/{assessment_id}/evidence", response_model=list[Evidence],
            summary="An assessment's evidence files (the institution's readers, the learner, the panel's enterprise members)")
async def list_evidence(assessment_id: uuid.UUID, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal) -> list[Evidence]:
    a = await service.assessment_of(session, assessment_id)
    if not await service.may_see_evidence(session, principal, a, await access.institution(session, ctx, a.institution_code)):
        raise NotFound("No such assessment.")
    return service.evidence_read(a)


@router.get("/v1/rpl-assessments/{assessment_id}/evidence/{name}", response_model=EvidenceDownload,
            summary="An evidence file: an expiring download link (the institution's readers, the learner, the panel's enterprise "
                    "members)")
async def get_evidence(assessment_id: uuid.UUID, name: FileName, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal,
                       store: StoreDep) -> EvidenceDownload:
    a = await service.assessment_of(session, assessment_id)
    if not await service.may_see_evidence(session, principal, a, await access.institution(session, ctx, a.institution_code)):
        raise NotFound("No such assessment.")
    return await service.evidence_download(store, a, name)


@router.put("/v1/rpl-assessments/{assessment_id}/decision", response_model=AssessmentRead,
            summary="Decide an assessment: recognised grants the module's credit as an equivalence rule for work experience says")
async def decide_assessment(assessment_id: uuid.UUID, body: AssessmentDecisionIn, session: SessionDep, principal: CurrentPrincipal,
                            now: NowDep) -> AssessmentRead:
    a = await service.assessment_of(session, assessment_id)
    access.ensure_write(principal, a.institution_code)
    return await service.decide_assessment(session, a, body, access.actor_of(principal), now)


@router.get("/v1/enrolments/{enrolment_id}/recognised-modules", response_model=list[RecognisedRead],
            summary="An enrolment's recognised modules (công nhận) and where each came from")
async def recognised_modules(enrolment_id: uuid.UUID, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal) -> list[RecognisedRead]:
    enrolment, learner, _ = await service.enrolment_of(session, enrolment_id)
    inst = await access.institution(session, ctx, enrolment.institution_code)
    if not (person_id_of(principal) == str(learner.person_id) or access.may_read(principal, inst)):
        raise NotFound("No such enrolment.")
    return await service.recognised_read(session, enrolment_id)
