"""Enterprises as participants (doanh nghiệp tham gia): an institution invites an enterprise — an institution of type
``enterprise`` in identity's registry — to review a programme's learning outcomes (comments per outcome), to sit on
an RPL assessment panel (item 3: the member it names joins the panel; named with their platform account, that
person sees the assessment's evidence files), or to answer the employer feedback form on
its graduates of a year (questions as data; the standard ones fixed, the report reads them). An invitation is put by
its natural key (institution, enterprise, purpose, subject): sending it again changes nothing.

The enterprise answers by the invitation's signed link (no account: the link carries the invitation's id and an HMAC
of it under the service's secret, nothing secret is stored) or with its own token (staff or a machine client with a
role at the enterprise). Comments may be given again (each outcome's replaces the last); a panel member joins once; a
feedback form is answered once."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.clock import vietnam_date
from services.common.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.common.links import id_of_signed, signed_id
from services.common.permissions import roles_at
from services.records import access
from services.records.enterprises import repository
from services.records.enterprises.schemas import (
    EMPLOYER_QUESTIONS,
    AnswerIn,
    CommentRead,
    FeedbackReport,
    FeedbackRow,
    InvitationForm,
    InvitationIn,
    InvitationRead,
)
from services.records.followup.service import check_answers
from services.records.models import EnterpriseInvitation, InstitutionRef, OutcomeComment
from services.records.outcomes.service import outcomes_read
from services.records.oversight.service import provinces_for

#: who acts for an enterprise with a token: its staff or its system
ENTERPRISE_ACTORS = {"school_admin", "school_system"}


async def _flush(session: AsyncSession) -> None:
    """Flush; a unique key taken meanwhile by a concurrent request (the same write sent twice at once) is a 409 —
    sent again, the write finds what the other made — not a 500."""
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict("The same change was being made by another request at the same time; send it again.") from None


_invalid = ValidationFailed.of_field


# -- links -----------------------------------------------------------------------------------------------------------
def link_token(secret: str, invitation_id: uuid.UUID) -> str:
    return signed_id(secret, "enterprise-link", invitation_id)


def invitation_of_token(secret: str, token: str) -> uuid.UUID:
    invitation_id = id_of_signed(secret, "enterprise-link", token)
    if invitation_id is None:
        raise NotFound("No such invitation link.")
    return invitation_id


def may_act_for(principal: Principal, enterprise_code: str) -> bool:
    return bool(roles_at(principal, enterprise_code) & ENTERPRISE_ACTORS)


# -- invitations -----------------------------------------------------------------------------------------------------
def invitation_read(inv: EnterpriseInvitation, secret: str, base: str) -> InvitationRead:
    return InvitationRead(id=inv.id, institution_code=inv.institution_code, enterprise_code=inv.enterprise_code,
                          purpose=inv.purpose, subject=inv.subject, message=inv.message, closes_on=inv.closes_on,  # type: ignore[arg-type]
                          link=f"{base}/v1/enterprise-invitations/{link_token(secret, inv.id)}", responded_at=inv.responded_at,
                          channel=inv.channel)


async def put_invitation(session: AsyncSession, inst: InstitutionRef, enterprise: InstitutionRef, body: InvitationIn) -> tuple[EnterpriseInvitation, bool]:
    if enterprise.type != "enterprise":
        raise _invalid("enterprise_code", f"{enterprise.code} is registered as {enterprise.type}, not as an enterprise")
    values: dict[str, Any] = {"programme_id": None, "assessment_id": None, "graduation_year": None, "questions": []}
    if body.purpose == "programme_review":
        if not body.programme_code:
            raise _invalid("programme_code", "a programme review names the programme")
        p = await repository.programme(session, inst.code, body.programme_code)
        if p is None:
            raise _invalid("programme_code", f"no programme {body.programme_code} at {inst.code}")
        subject, values["programme_id"] = p.code, p.id
    elif body.purpose == "assessment_panel":
        if body.assessment_id is None:
            raise _invalid("assessment_id", "a panel invitation names the assessment")
        a = await repository.assessment(session, body.assessment_id)
        if a is None or a.institution_code != inst.code:
            raise _invalid("assessment_id", f"no such assessment at {inst.code}")
        subject, values["assessment_id"] = str(a.id), a.id
    else:
        if body.graduation_year is None:
            raise _invalid("graduation_year", "employer feedback is about the graduates of a year")
        subject, values["graduation_year"], values["questions"] = str(body.graduation_year), body.graduation_year, EMPLOYER_QUESTIONS
    inv = await repository.invitation_by_key(session, inst.code, enterprise.code, body.purpose, subject)
    if inv is None:
        inv = EnterpriseInvitation(id=uuid.uuid4(), institution_code=inst.code, enterprise_code=enterprise.code, purpose=body.purpose,
                                   subject=subject, message=body.message, closes_on=body.closes_on, **values)
        session.add(inv)
        await _flush(session)
        return inv, True
    if (inv.message, inv.closes_on) != (body.message, body.closes_on):
        inv.message, inv.closes_on = body.message, body.closes_on
        await _flush(session)
    return inv, False


async def institution_invitations(session: AsyncSession, code: str) -> list[EnterpriseInvitation]:
    return await repository.invitations_of_institution(session, code)


async def enterprise_invitations(session: AsyncSession, principal: Principal, code: str) -> list[EnterpriseInvitation]:
    if not may_act_for(principal, code):
        raise Forbidden(f"You do not act for enterprise {code}.")
    return await repository.invitations_of_enterprise(session, code)


async def invitation_of(session: AsyncSession, invitation_id: uuid.UUID) -> EnterpriseInvitation:
    inv = await repository.invitation(session, invitation_id)
    if inv is None:
        raise NotFound("No such invitation.")
    return inv


async def form(session: AsyncSession, inv: EnterpriseInvitation) -> InvitationForm:
    inst = await repository.institution(session, inv.institution_code)
    out = InvitationForm(invitation_id=inv.id, institution_code=inv.institution_code, institution_name=inst.name if inst else None,
                         enterprise_code=inv.enterprise_code, purpose=inv.purpose, message=inv.message, closes_on=inv.closes_on,  # type: ignore[arg-type]
                         responded=inv.responded_at is not None)
    if inv.purpose == "programme_review" and inv.programme_id:
        p = await repository.programme_by_id(session, inv.programme_id)
        if p is not None:
            doc = await outcomes_read(session, p)
            given = await repository.comments_of_invitation(session, inv.id)
            out.programme = {"code": p.code, "name": p.name, "level": p.level, "outcomes": [
                o.model_dump(mode="json", exclude={"id"}) | {"comment": given[o.code].comment if o.code in given else None}
                for o in doc.outcomes]}
    elif inv.purpose == "assessment_panel" and inv.assessment_id:
        a = await repository.assessment(session, inv.assessment_id)
        if a is not None:
            out.assessment = {"module_code": a.module_code, "experience": a.experience, "decision": a.decision,
                              "panel": [m["name"] for m in a.panel]}
    else:
        out.graduation_year, out.questions = inv.graduation_year, list(inv.questions)
    return out


def _open(inv: EnterpriseInvitation, now: datetime) -> None:
    if inv.closes_on is not None and vietnam_date(now) > inv.closes_on:
        raise Conflict(f"The invitation closed on {inv.closes_on}.")


def _check_feedback(questions: list[dict[str, Any]], answers: dict[str, Any]) -> list[dict[str, str]]:
    counts = {q["code"] for q in questions if q["kind"] == "count"}
    errors = check_answers([q for q in questions if q["kind"] != "count"], {k: v for k, v in answers.items() if k not in counts})
    for code in counts:
        value = answers.get(code)
        if value is None:
            if any(q["code"] == code and q.get("required") for q in questions):
                errors.append({"field": f"answers.{code}", "message": "required"})
        elif isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100_000:
            errors.append({"field": f"answers.{code}", "message": "a whole number, 0 or more"})
    return errors


async def answer(session: AsyncSession, inv: EnterpriseInvitation, body: AnswerIn, channel: str, now: datetime) -> InvitationForm:
    _open(inv, now)
    if inv.purpose == "programme_review":
        if not body.comments:
            raise _invalid("comments", "a review gives comments on the programme's outcomes")
        p = await repository.programme_by_id(session, inv.programme_id) if inv.programme_id else None
        if p is None:
            raise NotFound("The programme is gone.")
        codes = {o.code for o in (await outcomes_read(session, p)).outcomes}
        errors = [{"field": f"comments[{i}].outcome_code", "message": f"programme {p.code} has no outcome {c.outcome_code}"}
                  for i, c in enumerate(body.comments) if c.outcome_code not in codes]
        if errors:
            raise ValidationFailed("; ".join(e["message"] for e in errors), errors=errors)
        given = await repository.comments_of_invitation(session, inv.id)
        for c in body.comments:
            row = given.get(c.outcome_code)
            if row is None:
                session.add(OutcomeComment(id=uuid.uuid4(), invitation_id=inv.id, programme_id=p.id, outcome_code=c.outcome_code,
                                           comment=c.comment))
            elif row.comment != c.comment:
                row.comment = c.comment
        inv.responded_at = inv.responded_at or now
    elif inv.purpose == "assessment_panel":
        if not body.member_name:
            raise _invalid("member_name", "the enterprise names who sits on the panel")
        a = await repository.assessment(session, inv.assessment_id) if inv.assessment_id else None
        if a is None:
            raise NotFound("The assessment is gone.")
        member = {"name": body.member_name, "role": "member", "organisation": None, "institution_code": inv.enterprise_code}
        person = str(body.member_person_id) if body.member_person_id else None
        if inv.response is not None:
            bound = inv.response.get("member_person_id")
            if inv.response.get("member_name") != body.member_name or (bound is not None and person not in (None, bound)):
                raise Conflict("The enterprise already named its panel member.")
            if bound is not None or person is None:
                return await form(session, inv)  # the same member again
            if a.decision is not None:
                raise Conflict("The assessment is decided; its panel is closed.")
            # the member named before, now bound to their account
            inv.response = {**inv.response, "member_person_id": person}
            inv.channel = channel
            await _flush(session)
            return await form(session, inv)
        if a.decision is not None:
            raise Conflict("The assessment is decided; its panel is closed.")
        inst = await repository.institution(session, inv.enterprise_code)
        member["organisation"] = inst.name if inst else None
        a.panel = [*a.panel, member]
        inv.response, inv.responded_at = {"member_name": body.member_name, "member_person_id": person}, now
    else:
        if inv.responded_at is not None:
            raise Conflict("The feedback form was answered already.")
        answers = body.answers or {}
        errors = _check_feedback(inv.questions, answers)
        if errors:
            raise ValidationFailed("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)
        inv.response, inv.responded_at = {k: v for k, v in answers.items() if v is not None}, now
    inv.channel = channel
    await _flush(session)
    return await form(session, inv)


async def comments(session: AsyncSession, institution_code: str, programme_code: str) -> list[CommentRead]:
    p = await repository.programme(session, institution_code, programme_code)
    if p is None:
        raise NotFound(f"No programme {programme_code} at {institution_code}.")
    return [CommentRead(enterprise_code=e, outcome_code=c.outcome_code, comment=c.comment, updated_at=c.updated_at)
            for c, e in await repository.comments_of_programme(session, p.id)]


# -- the employer feedback report ------------------------------------------------------------------------------------
def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def feedback_report(session: AsyncSession, principal: Principal, year: int, by: str, inst: InstitutionRef | None,
                          province: str | None) -> FeedbackReport:
    if inst is not None:
        access.ensure_read(principal, inst)
        rows = await repository.feedback_rows(session, year, [inst.code], None)
    else:
        rows = await repository.feedback_rows(session, year, None, provinces_for(principal, province))
    groups: dict[tuple[str | None, ...], list[dict[str, Any]]] = {}
    for r in rows:
        key: tuple[str | None, ...] = (r["institution"], r["province"]) if by == "institution" else (r["province"],)
        groups.setdefault(key, []).append(r)
    items = []
    for key in sorted(groups, key=lambda k: tuple(x or "" for x in k)):
        members = groups[key]
        answered = [m["response"] or {} for m in members if m["responded_at"] is not None]
        match = [a for a in answered if a.get("skills_match") in ("fully", "mostly")]
        hire_asked = [a for a in answered if "would_hire_again" in a]
        items.append(FeedbackRow(
            group={"institution": key[0], "province": key[1]} if by == "institution" else {"province": key[0]},
            invited=len(members), responded=len(answered), response_rate=_rate(len(answered), len(members)),
            graduates_employed=sum(int(a.get("graduates_employed") or 0) for a in answered),
            skills_match_rate=_rate(len(match), len(answered)),
            would_hire_again_rate=_rate(sum(1 for a in hire_asked if a["would_hire_again"]), len(hire_asked))))
    return FeedbackReport(graduation_year=year, by="institution" if by == "institution" else "province", items=items)


def feedback_csv(doc: FeedbackReport) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    dims = ["institution", "province"] if doc.by == "institution" else ["province"]
    fields = ["invited", "responded", "response_rate", "graduates_employed", "skills_match_rate", "would_hire_again_rate"]
    w.writerow([*dims, *fields])
    for item in doc.items:
        values = item.model_dump()
        w.writerow([*(item.group.get(d) or "" for d in dims), *("" if values[f] is None else values[f] for f in fields)])
    return out.getvalue()
