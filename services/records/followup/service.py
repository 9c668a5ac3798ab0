"""Graduate follow-up: at 6 and 12 months after graduation an institution opens a survey round for its graduates of a
year; each graduate is invited (one per graduated enrolment) and answers once — by a one-time link that needs no
account (the link carries the invitation's id and an HMAC of it under the service's secret: nothing secret is
stored, a forged or altered link is refused), or signed in, from their account. The questions are data: the
Ministry's standard employment indicators (employed, in the trained occupation, employer type, monthly income
band, further study) in every round, then the institution's own. Reports: response and employment rates by
institution, occupation, level, province and sex (JSON or CSV) — the institution's own, its province's officers,
national officers."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.clock import vietnam_date
from services.common.errors import Conflict, NotFound, ValidationFailed
from services.common.links import id_of_signed, signed_id
from services.common.permissions import person_id_of
from services.records import access
from services.records.followup import repository
from services.records.followup.schemas import (
    STANDARD_QUESTIONS,
    AnswersIn,
    FollowupReport,
    InvitationRead,
    ReportRow,
    RoundIn,
    RoundRead,
    SurveyForm,
)
from services.records.models import InstitutionRef, SurveyInvitation, SurveyResponse, SurveyRound
from services.records.oversight.service import provinces_for

MONTHS = (6, 12)


# -- links -----------------------------------------------------------------------------------------------------
def link_token(secret: str, invitation_id: uuid.UUID) -> str:
    return signed_id(secret, "followup-link", invitation_id)


def invitation_of_token(secret: str, token: str) -> uuid.UUID:
    invitation_id = id_of_signed(secret, "followup-link", token)
    if invitation_id is None:
        raise NotFound("No such survey link.")
    return invitation_id


# -- rounds ----------------------------------------------------------------------------------------------------
async def round_read(session: AsyncSession, survey: SurveyRound) -> RoundRead:
    invited, responded = await repository.counts(session, survey.id)
    return RoundRead(id=survey.id, institution_code=survey.institution_code, graduation_year=survey.graduation_year,
                     months_after=survey.months_after, opens_on=survey.opens_on, closes_on=survey.closes_on,
                     questions=list(survey.questions), invited=invited, responded=responded)


async def put_round(session: AsyncSession, principal: Principal, inst: InstitutionRef, year: int, months: int, body: RoundIn,
                    now: datetime) -> tuple[SurveyRound, bool]:
    """Opens (or changes) the round and invites every graduate of the year not invited yet (a graduation decided
    later is invited by the next PUT)."""
    access.ensure_write(principal, inst.code)
    if months not in MONTHS:
        raise ValidationFailed("Rounds are 6 or 12 months after graduation.", errors=[{"field": "months_after", "message": "6 or 12"}])
    questions = STANDARD_QUESTIONS + [q.model_dump() for q in body.extra_questions]
    survey = await repository.round_of(session, inst.code, year, months)
    created = survey is None
    if survey is None:
        survey = SurveyRound(id=uuid.uuid4(), institution_code=inst.code, graduation_year=year, months_after=months,
                             opens_on=body.opens_on, closes_on=body.closes_on, questions=questions)
        session.add(survey)
        try:
            await session.flush()
        except IntegrityError:  # opened by a concurrent request
            raise Conflict("The round was being opened by another request; send this one again.", headers={"Retry-After": "1"}) from None
    else:
        survey.opens_on, survey.closes_on, survey.questions = body.opens_on, body.closes_on, questions
    for enrolment_id, person_id in await repository.graduates_not_invited(session, survey):
        session.add(SurveyInvitation(id=uuid.uuid4(), round_id=survey.id, enrolment_id=enrolment_id, person_id=person_id, created_at=now))
    await session.flush()
    return survey, created


async def survey_round(session: AsyncSession, round_id: uuid.UUID) -> SurveyRound:
    found = await repository.round_by_id(session, round_id)
    if found is None:
        raise NotFound("No such survey round.")
    return found


async def invitation_reads(session: AsyncSession, survey: SurveyRound, secret: str, base: str, limit: int, offset: int) -> list[InvitationRead]:
    return [InvitationRead(id=i.id, full_name=name, programme_code=programme, link=f"{base}/v1/followup/{link_token(secret, i.id)}",
                           responded_at=i.responded_at)
            for i, name, programme in await repository.invitations(session, survey.id, limit, offset)]


# -- answering -------------------------------------------------------------------------------------------------
async def _invitation(session: AsyncSession, invitation_id: uuid.UUID) -> tuple[SurveyInvitation, SurveyRound]:
    found = await repository.invitation(session, invitation_id)
    if found is None:
        raise NotFound("No such survey link.")
    survey = await repository.round_by_id(session, found.round_id)
    assert survey is not None
    return found, survey


async def form(session: AsyncSession, invitation: SurveyInvitation, survey: SurveyRound) -> SurveyForm:
    programme = await repository.programme_of_enrolment(session, invitation.enrolment_id)
    return SurveyForm(invitation_id=invitation.id, institution_code=survey.institution_code, programme_name=programme.name if programme else "",
                      graduation_year=survey.graduation_year, months_after=survey.months_after, closes_on=survey.closes_on,
                      questions=list(survey.questions), responded=invitation.responded_at is not None)


async def form_by_link(session: AsyncSession, secret: str, token: str) -> SurveyForm:
    return await form(session, *await _invitation(session, invitation_of_token(secret, token)))


async def my_forms(session: AsyncSession, principal: Principal) -> list[SurveyForm]:
    person = person_id_of(principal)
    if person is None:
        return []
    out = []
    for invitation in await repository.invitations_of_person(session, uuid.UUID(person)):
        survey = await repository.round_by_id(session, invitation.round_id)
        assert survey is not None
        out.append(await form(session, invitation, survey))
    return out


def check_answers(questions: Sequence[dict[str, Any]], answers: dict[str, Any]) -> list[dict[str, str]]:
    known = {q["code"]: q for q in questions}
    errors = [{"field": f"answers.{code}", "message": "not a question of this survey"} for code in answers if code not in known]
    for code, q in known.items():
        value = answers.get(code)
        if value is None:
            if q.get("required"):
                errors.append({"field": f"answers.{code}", "message": "required"})
            continue
        if q["kind"] == "boolean" and not isinstance(value, bool):
            errors.append({"field": f"answers.{code}", "message": "true or false"})
        elif q["kind"] == "choice" and value not in q["options"]:
            errors.append({"field": f"answers.{code}", "message": f"one of {', '.join(q['options'])}"})
        elif q["kind"] == "text" and not isinstance(value, str):
            errors.append({"field": f"answers.{code}", "message": "text"})
    return errors


async def answer(session: AsyncSession, invitation_id: uuid.UUID, body: AnswersIn, channel: str, now: datetime,
                 principal: Principal | None = None) -> SurveyForm:
    invitation, survey = await _invitation(session, invitation_id)
    if principal is not None and person_id_of(principal) != str(invitation.person_id):
        raise NotFound("No such survey.")
    today = vietnam_date(now)
    if not survey.opens_on <= today <= survey.closes_on:
        raise Conflict(f"The survey takes answers from {survey.opens_on} to {survey.closes_on}.")
    if invitation.responded_at is not None:
        raise Conflict("This survey was answered already.")
    errors = check_answers(survey.questions, body.answers)
    if errors:
        raise ValidationFailed("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)
    a = body.answers
    session.add(SurveyResponse(
        invitation_id=invitation.id, round_id=survey.id, answers={k: v for k, v in a.items() if v is not None},
        employed=bool(a.get("employed")), in_trained_occupation=a.get("in_trained_occupation"),
        employer_type=a.get("employer_type"), income_band=a.get("income_band"), further_study=a.get("further_study"),
        channel=channel, submitted_at=now))
    invitation.responded_at = now
    try:
        await session.flush()
    except IntegrityError:  # the same survey answered twice at once
        raise Conflict("This survey was answered already.") from None
    return await form(session, invitation, survey)


# -- reports ---------------------------------------------------------------------------------------------------
def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def report(session: AsyncSession, principal: Principal, year: int, months: int, by: list[str], inst: InstitutionRef | None,
                 province: str | None) -> FollowupReport:
    if inst is not None:
        access.ensure_read(principal, inst)
        rows = await repository.report_rows(session, year, months, [inst.code], None)
    else:
        rows = await repository.report_rows(session, year, months, None, provinces_for(principal, province))
    groups: dict[tuple[str | None, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row[d] for d in by), []).append(row)
    items = []
    for key in sorted(groups, key=lambda k: tuple(x or "" for x in k)):
        members = groups[key]
        responded = [m for m in members if m["responded_at"] is not None]
        employed = [m for m in responded if m["employed"]]
        trained = [m for m in employed if m["in_trained_occupation"]]
        items.append(ReportRow(group=dict(zip(by, key, strict=True)), invited=len(members), responded=len(responded),
                               response_rate=_rate(len(responded), len(members)), employed=len(employed),
                               employment_rate=_rate(len(employed), len(responded)), in_trained_occupation=len(trained),
                               trained_occupation_rate=_rate(len(trained), len(employed)),
                               further_study=sum(1 for m in responded if m["further_study"])))
    return FollowupReport(graduation_year=year, months_after=months, by=by, items=items)


def report_csv(doc: FollowupReport) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    fields = ["invited", "responded", "response_rate", "employed", "employment_rate", "in_trained_occupation",
              "trained_occupation_rate", "further_study"]
    w.writerow([*doc.by, *fields])
    for item in doc.items:
        values = item.model_dump()
        w.writerow([*(item.group[d] or "" for d in doc.by), *("" if values[f] is None else values[f] for f in fields)])
    return out.getvalue()


def parse_by(by: str) -> list[str]:
    dims = [d.strip() for d in by.split(",") if d.strip()]
    allowed = {"institution", "occupation", "level", "province", "sex"}
    bad = [d for d in dims if d not in allowed]
    if bad or len(set(dims)) != len(dims):
        raise ValidationFailed("by: institution, occupation, level, province, sex, each once.", errors=[{"field": "by", "message": "invalid"}])
    return dims


