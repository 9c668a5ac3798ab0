"""Admissions (tuyển sinh): the rules.

* **Cohort pushes.** A secondary school's or province education department's system (machine client with
  ``admissions:share``) pushes a graduating cohort: each row a person (ID number, name, birth date, sex) and their
  subject results. Rows upsert on the natural key (ID number, school, graduation year), so a repeated push changes
  nothing; a bad row is reported by its number and field — the whole push refused (``mode=all``, default) or the
  good rows kept (``mode=partial``). Persons are resolved through identity as a school's sync resolves them, so
  the graduate is the same person who later signs in with VNeID.
* **Who sees a graduate's data.** The person themself; an institution only while a consent stands: given by
  applying there (``application``) or by agreeing to its counselling (``counselling``). The person sees every
  institution that received their data and withdraws either at once: the institution then no longer sees the
  pushed data (its application, if any, stays — the person withdraws that separately).
* **Intakes and applications.** An institution opens intakes (capacity, dates, criteria as data); a signed-in
  person applies while an intake is open and meets its criteria; the application moves submitted → reviewed →
  offered (within capacity) → accepted | declined (the person) → enrolled (the institution: the learner and the
  enrolment are created through records' own learner rules, from the application — nothing retyped); the
  institution may reject before an offer, the person may withdraw before accepting. Each step is an outbox event
  ``vn.vet.records.application.<status>`` (the notification).
* **Reports.** Streaming per district (of a year's secondary graduates, the share enrolled in VET, against the
  Quảng Nam plan's 55%); intake against capacity per institution.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.clock import vietnam_date
from services.common.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.common.outbox import Outbox
from services.common.permissions import INSTITUTION_STAFF, person_id_of, provinces_of, roles_at
from services.common.privacy import mask_id_number
from services.records import access
from services.records.admissions import repository
from services.records.admissions.schemas import (
    ApplicationIn,
    ApplicationRead,
    CohortPush,
    CohortResult,
    DecisionIn,
    EnrolIn,
    GraduateRead,
    GraduateRow,
    IntakeIn,
    IntakeRead,
    IntakeReport,
    IntakeReportRow,
    MyAdmissions,
    RowError,
    ShareRead,
    StreamingReport,
    StreamingRow,
)
from services.records.fields import pydantic_errors
from services.records.models import AdmissionConsent, Application, InstitutionRef, Intake, SecondaryGraduate
from services.records.oversight.service import is_national, provinces_for

EVENT_PREFIX = "vn.vet.records.application."
#: the Quảng Nam plan: 55% of lower/upper-secondary graduates streamed into vocational education
STREAMING_TARGET = 0.55
#: who moves an application from one state to another: (from states, by)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "reviewed": (frozenset({"submitted"}), "institution"),
    "offered": (frozenset({"submitted", "reviewed"}), "institution"),
    "rejected": (frozenset({"submitted", "reviewed"}), "institution"),
    "accepted": (frozenset({"offered"}), "applicant"),
    "declined": (frozenset({"offered"}), "applicant"),
    "withdrawn": (frozenset({"submitted", "reviewed", "offered"}), "applicant"),
    "enrolled": (frozenset({"accepted"}), "institution"),
}
#: states that hold a place of the intake's capacity
HOLDS_PLACE = ("offered", "accepted", "enrolled")

Resolver = Callable[[list[dict[str, Any]]], Awaitable[list[dict[str, Any]]]]
#: creates (or updates) a learner with an enrolment from a sync-shaped row at an institution, by records' own
#: learner rules (:func:`services.records.learners.service.put_learner`)
LearnerWriter = Callable[[str, dict[str, Any]], Awaitable[None]]


def today(now: datetime) -> date:
    return vietnam_date(now)


def person_of(principal: Principal) -> uuid.UUID:
    person = person_id_of(principal)
    if principal.kind != "user" or person is None:
        raise Forbidden("This is for a signed-in person (VNeID): the token names no person.")
    return uuid.UUID(person)


# -- cohort pushes ---------------------------------------------------------------------------------------------
def ensure_share(principal: Principal, province_code: str) -> None:
    """A pushing client bound to provinces (a province department's system) pushes only for them."""
    mine = provinces_of(principal)
    if mine and province_code not in mine:
        raise Forbidden(f"You may not push graduates of province {province_code}.")


def graduate_read(g: SecondaryGraduate, *, masked: bool = False) -> GraduateRead:
    return GraduateRead(id=g.id, id_number=mask_id_number(g.id_number) if masked else g.id_number, full_name=g.full_name,
                        date_of_birth=g.date_of_birth, sex=g.sex, school_code=g.school_code, school_name=g.school_name,
                        province_code=g.province_code, district=g.district, graduation_year=g.graduation_year,
                        results=dict(g.results))


async def push_cohort(session: AsyncSession, principal: Principal, resolve: Resolver, body: CohortPush, *, partial: bool) -> CohortResult:
    ensure_share(principal, body.school.province_code)
    errors: list[RowError] = []
    rows: list[tuple[int, GraduateRow]] = []
    seen: dict[str, int] = {}
    for n, raw in enumerate(body.graduates, start=1):
        try:
            row = GraduateRow.model_validate(raw)
        except ValidationError as exc:
            errors.extend(RowError(row=n, field=f, message=m) for f, m in pydantic_errors(exc))
            continue
        if row.id_number in seen:
            errors.append(RowError(row=n, field="id_number", message=f"the same person as row {seen[row.id_number]}"))
            continue
        seen[row.id_number] = n
        rows.append((n, row))
    persons: dict[int, uuid.UUID] = {}
    if rows:
        results = await resolve([{"id_number": r.id_number, "full_name": r.full_name, "date_of_birth": r.date_of_birth.isoformat()}
                                 | ({"gender": r.sex} if r.sex else {}) for _, r in rows])
        for (n, _), result in zip(rows, results, strict=True):
            if result.get("person_id"):
                persons[n] = uuid.UUID(str(result["person_id"]))
            else:
                for e in result.get("errors") or [{"field": "id_number", "message": "rejected by the person registry"}]:
                    field = {"gender": "sex"}.get(e.get("field", "id_number"), e.get("field", "id_number"))
                    errors.append(RowError(row=n, field=field, message=e.get("message", "invalid")))
    errors.sort(key=lambda e: e.row)
    if errors and not partial:
        raise ValidationFailed(f"{len({e.row for e in errors})} of {len(body.graduates)} rows are not valid; nothing was stored.",
                               errors=[e.model_dump() for e in errors])
    school = body.school
    stored = await repository.graduates_by_key(session, school.code, body.graduation_year, (r.id_number for n, r in rows if n in persons))
    created = updated = unchanged = 0
    for n, row in rows:
        if n not in persons:
            continue
        values = {"person_id": persons[n], "full_name": row.full_name, "date_of_birth": row.date_of_birth, "sex": row.sex,
                  "school_name": school.name, "province_code": school.province_code, "district": school.district,
                  "results": {k: f"{v.normalize():f}" if v == v.to_integral_value() else str(v) for k, v in row.results.items()}}
        g = stored.get(row.id_number)
        if g is None:
            session.add(SecondaryGraduate(id=uuid.uuid4(), id_number=row.id_number, school_code=school.code,
                                          graduation_year=body.graduation_year, source=access.actor_of(principal), **values))
            created += 1
        elif any(getattr(g, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(g, k, v)
            g.source = access.actor_of(principal)
            updated += 1
        else:
            unchanged += 1
    try:
        await session.flush()
    except IntegrityError:  # the same cohort pushed at the same moment by another request: it stored these rows first
        raise Conflict("Another push of this cohort was being stored at the same time; send this one again (nothing was changed).",
                       headers={"Retry-After": "1"}) from None
    return CohortResult(school_code=school.code, graduation_year=body.graduation_year, created=created, updated=updated,
                        unchanged=unchanged, rejected=errors)


# -- the person's own view and consents ------------------------------------------------------------------------
async def my_admissions(session: AsyncSession, principal: Principal) -> MyAdmissions:
    person = person_of(principal)
    graduates = await repository.graduates_of_person(session, person)
    shares = [ShareRead.model_validate(c, from_attributes=True) for c in await repository.consents_of_person(session, person)]
    apps = await repository.applications_of_person(session, person)
    return MyAdmissions(graduate_records=[graduate_read(g) for g in graduates], shared_with=shares,
                        applications=await application_reads(session, apps, graduates=False))


async def grant_counselling(session: AsyncSession, principal: Principal, inst: InstitutionRef, now: datetime) -> ShareRead:
    person = person_of(principal)
    consent = await _grant(session, person, inst.code, "counselling", now)
    return ShareRead.model_validate(consent, from_attributes=True)


async def _grant(session: AsyncSession, person: uuid.UUID, code: str, purpose: str, now: datetime) -> AdmissionConsent:
    consent = await repository.consent(session, person, code, purpose)
    if consent is None:
        consent = AdmissionConsent(id=uuid.uuid4(), person_id=person, institution_code=code, purpose=purpose, granted_at=now)
        session.add(consent)
    elif consent.withdrawn_at is not None:
        consent.granted_at, consent.withdrawn_at = now, None
    try:
        await session.flush()
    except IntegrityError:  # granted by a concurrent request
        raise Conflict("Your consent was being recorded by another request; send this one again.", headers={"Retry-After": "1"}) from None
    return consent


async def withdraw_consent(session: AsyncSession, principal: Principal, code: str, now: datetime) -> list[ShareRead]:
    """Every consent of the person to the institution withdrawn: it no longer sees their data, from this moment."""
    person = person_of(principal)
    mine = [c for c in await repository.consents_of_person(session, person) if c.institution_code == code]
    if not mine:
        raise NotFound(f"Institution {code} has not received your data.")
    for c in mine:
        if c.withdrawn_at is None:
            c.withdrawn_at = now
    await session.flush()
    return [ShareRead.model_validate(c, from_attributes=True) for c in mine]


# -- intakes ---------------------------------------------------------------------------------------------------
def intake_read(i: Intake) -> IntakeRead:
    return IntakeRead.model_validate(i, from_attributes=True)


async def put_intake(session: AsyncSession, principal: Principal, inst: InstitutionRef, code: str, body: IntakeIn) -> tuple[Intake, bool]:
    access.ensure_write(principal, inst.code)
    values = body.model_dump(mode="json") | {"opens_on": body.opens_on, "closes_on": body.closes_on,
                                             "criteria": body.criteria.model_dump(mode="json", exclude_none=True)}
    existing = await repository.intake_by_code(session, inst.code, code)
    if existing is None:
        existing = Intake(id=uuid.uuid4(), institution_code=inst.code, code=code, **values)
        session.add(existing)
        created = True
    else:
        held = sum(n for s, n in (await repository.counts_by_status(session, existing.id)).items() if s in HOLDS_PLACE)
        if body.capacity < held:
            raise ValidationFailed(f"{held} places are offered or taken already.", errors=[{"field": "capacity", "message": f"below {held}"}])
        for k, v in values.items():
            setattr(existing, k, v)
        created = False
    await session.flush()
    return existing, created


async def intake(session: AsyncSession, intake_id: uuid.UUID) -> Intake:
    found = await repository.intake(session, intake_id)
    if found is None:
        raise NotFound("No such intake.")
    return found


# -- applications ----------------------------------------------------------------------------------------------
def _average(results: dict[str, Any]) -> Decimal | None:
    scores = [Decimal(str(v)) for v in results.values()]
    return sum(scores, Decimal(0)) / len(scores) if scores else None


def check_criteria(criteria: dict[str, Any], graduate: SecondaryGraduate | None, birth: date | None) -> list[dict[str, str]]:
    problems: list[dict[str, str]] = []
    results = dict(graduate.results) if graduate is not None else {}
    if criteria.get("min_average") is not None:
        average = _average(results)
        if average is None:
            problems.append({"field": "results", "message": "the intake asks for secondary-school results and none were shared by your school"})
        elif average < Decimal(str(criteria["min_average"])):
            problems.append({"field": "results", "message": f"average {average:.2f} below the intake's {criteria['min_average']}"})
    missing = [s for s in criteria.get("required_subjects") or [] if s not in results]
    if missing:
        problems.append({"field": "results", "message": f"no result in {', '.join(missing)}"})
    if criteria.get("min_birth_year") and birth is not None and birth.year < int(criteria["min_birth_year"]):
        problems.append({"field": "date_of_birth", "message": f"born before {criteria['min_birth_year']}"})
    return problems


def emit(outbox: Outbox, session: AsyncSession, app: Application, intake_row: Intake) -> None:
    data = {"application_id": str(app.id), "person_id": str(app.person_id), "institution_code": app.institution_code,
            "intake_code": intake_row.code, "programme_code": intake_row.programme_code, "status": app.status,
            "version": app.version, "note": app.note}
    outbox.emit(session, EVENT_PREFIX + app.status, data, subject=f"application/{app.id}")


async def _applicant(session: AsyncSession, principal: Principal, intake_id: uuid.UUID, body: ApplicationIn,
                     now: datetime) -> tuple[uuid.UUID, Intake, SecondaryGraduate | None]:
    """The checks of an application that come before its particulars are resolved: (the person, the intake, the
    graduate data a school shared or None)."""
    person = person_of(principal)
    target = await intake(session, intake_id)
    day = today(now)
    if not target.opens_on <= day <= target.closes_on:
        raise Conflict(f"The intake takes applications from {target.opens_on} to {target.closes_on}.")
    if await repository.application_of(session, target.id, person) is not None:
        raise Conflict("You have applied to this intake already.")
    graduate = await repository.latest_graduate(session, person)
    if graduate is None:
        missing = [f for f in ("id_number", "full_name", "date_of_birth") if getattr(body, f) is None]
        if missing:
            raise ValidationFailed("No school shared your data: give your particulars.",
                                   errors=[{"field": f, "message": "required"} for f in missing])
    return person, target, graduate


async def particulars_needed(session: AsyncSession, principal: Principal, intake_id: uuid.UUID, body: ApplicationIn,
                             now: datetime) -> bool:
    """The application checked on a read (the same refusals as :func:`apply`), before identity is asked: whether the
    applicant's particulars are to be resolved (no school shared their data)."""
    _, _, graduate = await _applicant(session, principal, intake_id, body, now)
    return graduate is None


async def resolve_particulars(resolve: Resolver, body: ApplicationIn) -> dict[str, Any]:
    """Identity's answer for the particulars an applicant gave; call it with no write transaction open."""
    assert body.id_number and body.full_name and body.date_of_birth
    (result,) = await resolve([{"id_number": body.id_number, "full_name": body.full_name, "date_of_birth": body.date_of_birth.isoformat()}
                               | ({"gender": body.sex} if body.sex else {})])
    return result


async def apply(session: AsyncSession, outbox: Outbox, principal: Principal, intake_id: uuid.UUID, body: ApplicationIn,
                resolved: dict[str, Any] | None, now: datetime) -> Application:
    """``resolved``: identity's answer for the applicant's particulars (:func:`resolve_particulars`, asked before this
    write transaction opened), None if they were not needed."""
    person, target, graduate = await _applicant(session, principal, intake_id, body, now)
    if graduate is not None:
        number, name, birth, sex = graduate.id_number, graduate.full_name, graduate.date_of_birth, graduate.sex
    else:
        if resolved is None:  # a school's data was there when checked, and is not now
            raise Conflict("Your data changed while the application was checked; send it again.", headers={"Retry-After": "1"})
        if str(resolved.get("person_id")) != str(person):
            raise ValidationFailed("The ID number is not yours.", errors=[{"field": "id_number", "message": "not the signed-in person's"}])
        assert body.id_number and body.full_name and body.date_of_birth
        number, name, birth, sex = body.id_number, body.full_name, body.date_of_birth, body.sex
    problems = check_criteria(target.criteria, graduate, birth)
    if problems:
        raise ValidationFailed("You do not meet the intake's criteria: " + "; ".join(p["message"] for p in problems), errors=problems)
    app = Application(id=uuid.uuid4(), intake_id=target.id, institution_code=target.institution_code, person_id=person,
                      graduate_id=graduate.id if graduate else None, id_number=number, full_name=name, date_of_birth=birth, sex=sex,
                      status="submitted", version=1)
    session.add(app)
    try:
        await session.flush()
    except IntegrityError:  # the same application sent twice at once
        raise Conflict("You have applied to this intake already.") from None
    if graduate is not None:
        await _grant(session, person, target.institution_code, "application", now)
    await session.flush()
    emit(outbox, session, app, target)
    return app


async def application(session: AsyncSession, application_id: uuid.UUID) -> Application:
    found = await repository.application(session, application_id)
    if found is None:
        raise NotFound("No such application.")
    return found


def may_see_applications(principal: Principal, inst: InstitutionRef) -> bool:
    if is_national(principal) or inst.province_code in provinces_of(principal):
        return True
    return bool(roles_at(principal, inst.code) & (INSTITUTION_STAFF | {"school_admin"}))


def ensure_see_applications(principal: Principal, inst: InstitutionRef) -> None:
    if not may_see_applications(principal, inst):
        raise Forbidden(f"You may not see the applications to institution {inst.code}.")


async def application_reads(session: AsyncSession, apps: list[Application], *, graduates: bool, principal: Principal | None = None,
                            inst: InstitutionRef | None = None) -> list[ApplicationRead]:
    intakes = await repository.intakes_by_id(session, (a.intake_id for a in apps))
    shown: dict[uuid.UUID, SecondaryGraduate] = {}
    masked = False
    if graduates and inst is not None and principal is not None:
        sharing = await repository.persons_sharing_with(session, inst.code, (a.person_id for a in apps))
        found = await repository.graduates_by_id(session, (a.graduate_id for a in apps if a.person_id in sharing))
        shown = {a.id: found[a.graduate_id] for a in apps if a.graduate_id in found}
        masked = not access.may_see_numbers(principal, inst.province_code, None, inst.code)
    elif not graduates:
        found = await repository.graduates_by_id(session, (a.graduate_id for a in apps))
        shown = {a.id: found[a.graduate_id] for a in apps if a.graduate_id in found}
    out = []
    for a in apps:
        i = intakes[a.intake_id]
        g = shown.get(a.id)
        out.append(ApplicationRead(
            id=a.id, intake_id=a.intake_id, intake_code=i.code, programme_code=i.programme_code, institution_code=a.institution_code,
            status=a.status, id_number=mask_id_number(a.id_number) if masked else a.id_number, full_name=a.full_name,  # type: ignore[arg-type]
            date_of_birth=a.date_of_birth, sex=a.sex, note=a.note, learner_id=a.learner_id, version=a.version,
            created_at=a.created_at, updated_at=a.updated_at, graduate=graduate_read(g, masked=masked) if g is not None else None))
    return out


def ensure_may_move(principal: Principal, app: Application, to: str, inst: InstitutionRef | None) -> None:
    """Who moves the application to ``to`` (the applicant, or the institution's writers), and from which states."""
    allowed_from, by = TRANSITIONS[to]
    if by == "applicant":
        if person_of(principal) != app.person_id:
            raise NotFound("No such application.")
    else:
        assert inst is not None
        if not may_see_applications(principal, inst):
            raise NotFound("No such application.")
        access.ensure_write(principal, inst.code)
    if app.status not in allowed_from:
        raise Conflict(f"The application is {app.status}; it cannot become {to}.")


async def move(session: AsyncSession, outbox: Outbox, principal: Principal, app: Application, to: str, body: DecisionIn | EnrolIn,
               inst: InstitutionRef | None, *, write_learner: LearnerWriter, now: datetime) -> Application:
    ensure_may_move(principal, app, to, inst)
    target = await intake(session, app.intake_id)
    if to == "offered":
        await repository.lock_intake(session, target.id)  # offers of one intake one at a time (PostgreSQL; SQLite writes serially)
        held = sum(n for s, n in (await repository.counts_by_status(session, target.id)).items() if s in HOLDS_PLACE)
        if held >= target.capacity:
            raise Conflict(f"The intake's {target.capacity} places are all offered or taken.")
    if to == "enrolled":
        assert isinstance(body, EnrolIn)
        app.learner_id = await _enrol(session, write_learner, app, target, body, now)
    if isinstance(body, DecisionIn):
        app.note = body.note
    app.status = to
    app.version += 1
    await session.flush()
    emit(outbox, session, app, target)
    return app


def enrolment_row(app: Application, target: Intake, body: EnrolIn, now: datetime) -> dict[str, Any]:
    """The learner row (sync-shaped) the enrol step writes: the application's particulars, the intake's programme."""
    row: dict[str, Any] = {"id_number": app.id_number, "full_name": app.full_name, "programme_code": target.programme_code,
                           "mode": body.mode, "status": "enrolled", "enrolled_on": (body.enrolled_on or today(now)).isoformat()}
    if app.date_of_birth is not None:
        row["date_of_birth"] = app.date_of_birth.isoformat()
    if app.sex is not None:
        row["sex"] = app.sex
    if body.cohort_code is not None:
        row["cohort_code"] = body.cohort_code
    return row


async def _enrol(session: AsyncSession, write_learner: LearnerWriter, app: Application, target: Intake, body: EnrolIn,
                 now: datetime) -> uuid.UUID:
    """The learner and the enrolment through records' own learner rules (the same as a school's sync row)."""
    await write_learner(app.institution_code, enrolment_row(app, target, body, now))
    learner = await repository.learner_id(session, app.institution_code, app.id_number)
    assert learner is not None
    return learner


# -- reports ---------------------------------------------------------------------------------------------------
async def streaming_report(session: AsyncSession, principal: Principal, year: int, province: str | None) -> StreamingReport:
    provinces = provinces_for(principal, province)
    items = []
    for prov, district, graduates, applied, enrolled in await repository.streaming(session, year, provinces):
        rate = enrolled / graduates if graduates else None
        items.append(StreamingRow(province_code=prov, district=district, graduates=graduates, applied_vet=applied, enrolled_vet=enrolled,
                                  rate=round(rate, 4) if rate is not None else None, target=STREAMING_TARGET,
                                  meets_target=rate >= STREAMING_TARGET if rate is not None else None))
    return StreamingReport(graduation_year=year, target=STREAMING_TARGET, items=items)


async def intake_report(session: AsyncSession, principal: Principal, year: int, inst: InstitutionRef | None) -> IntakeReport:
    if inst is not None:
        ensure_see_applications(principal, inst)
        institutions: set[str] | None = {inst.code}
    elif is_national(principal):
        institutions = None
    else:
        mine = provinces_of(principal)
        if not mine:
            raise Forbidden("Name your institution (?institution=) or be an officer.")
        institutions = set(await repository.institutions_in(session, mine))
    items = []
    for i, counts in await repository.intake_counts(session, year, institutions):
        enrolled = counts.get("enrolled", 0)
        items.append(IntakeReportRow(
            institution_code=i.institution_code, intake_code=i.code, programme_code=i.programme_code, capacity=i.capacity,
            applications=sum(counts.values()), offered=sum(counts.get(s, 0) for s in ("offered", "accepted", "declined", "enrolled")),
            accepted=counts.get("accepted", 0) + enrolled, enrolled=enrolled, fill_rate=round(enrolled / i.capacity, 4)))
    return IntakeReport(year=year, items=items)

