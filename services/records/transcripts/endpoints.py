"""Transcripts (JSON, PDF) for the learner, their school and authorised officers."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response

from services.common.auth import CurrentPrincipal
from services.common.db import SessionDep
from services.common.permissions import person_id_of
from services.common.privacy import mask_id_number
from services.common.storage import content_disposition
from services.records import access
from services.records.context import RecordsContext, RecordsCtxDep
from services.records.enrolments import service as enrolments
from services.records.grades.service import record_of
from services.records.transcripts import service

router = APIRouter(tags=["transcripts"])


async def _document(enrolment_id: uuid.UUID, ctx: RecordsContext, session: Any, principal: Any) -> dict[str, Any]:
    enrolment = await enrolments.get_enrolment(session, enrolment_id)
    learner = await enrolments.learner_of(session, enrolment)
    assert learner is not None
    inst = await access.institution(session, ctx, enrolment.institution_code)
    if person_id_of(principal) != str(learner.person_id):
        access.ensure_read(principal, inst)
    number = learner.id_number if access.may_see_learner_number(principal, learner, inst.province_code) else mask_id_number(learner.id_number)
    return service.transcript(inst, learner, await record_of(session, enrolment), number)


@router.get("/v1/enrolments/{enrolment_id}/transcript", summary="Transcript of an enrolment (JSON)")
async def transcript_json(enrolment_id: uuid.UUID, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    return await _document(enrolment_id, ctx, session, principal)


@router.get("/v1/enrolments/{enrolment_id}/transcript.pdf", summary="Transcript of an enrolment (PDF, Vietnamese text)",
            responses={200: {"content": {"application/pdf": {}}}})
async def transcript_pdf(enrolment_id: uuid.UUID, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal) -> Response:
    doc = await _document(enrolment_id, ctx, session, principal)
    name = f"Bảng điểm {doc['learner']['full_name']}.pdf"
    return Response(service.pdf(doc), media_type="application/pdf", headers={"Content-Disposition": content_disposition(name, "inline")})
