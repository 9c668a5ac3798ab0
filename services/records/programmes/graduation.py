"""A cohort's graduation decision (quyết định công nhận tốt nghiệp): eligible learners graduate, each graduation is
an outbox event ``vn.vet.records.learner.graduated`` written in the same transaction (the credentials service
issues the diploma from it).

The event carries the holder's 12-digit personal ID number (``holder.id_number``): credentials identifies the diploma
holder by a salted hash of that number. The event goes only to the credentials service, over the
authenticated internal channel (``events:deliver``); it is never logged here, and the kit's log formatter redacts
12-digit numbers anyway."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.outbox import Outbox
from services.records.changes.service import ChangeLog
from services.records.grades.service import record_of
from services.records.models import Cohort, Enrolment, EnrolmentStatusChange, InstitutionRef, Learner, Occupation
from services.records.programmes import repository
from services.records.programmes.schemas import GraduationIn, GraduationLine, GraduationResult

EVENT_TYPE = "vn.vet.records.learner.graduated"


def event_data(inst: InstitutionRef, learner: Learner, enrolment: Enrolment, rec: Any, occupation: Occupation | None, body: GraduationIn, year: int) -> dict[str, Any]:
    p = rec.programme
    band = rec.standing.classification
    return {
        "institution_code": inst.code,
        "institution_name": inst.name,
        "learner_id": str(learner.id),
        "enrolment_id": str(enrolment.id),
        "person_id": str(learner.person_id),
        "holder": {
            "full_name": learner.full_name,
            "id_number": learner.id_number,
            "birth_date": learner.date_of_birth.isoformat() if learner.date_of_birth else None,
            "gender": learner.sex,
            "birth_place": learner.birth_place,
        },
        "programme": {
            "code": p.code,
            "name": p.name,
            "level": p.level,
            "occupation_code": p.occupation_code,
            "occupation_name": occupation.name if occupation else None,
            "credits": sum(m.credits for m in rec.modules.values() if not m.is_condition),
        },
        "graduation": {
            "year": year,
            "decision_number": body.decision_number,
            "decision_date": body.decision_date.isoformat(),
            "mode": enrolment.mode,
            "gpa": str(rec.standing.gpa),
            "classification": band.key if band else None,
            "classification_label": band.label if band else None,
        },
    }


async def graduate(session: AsyncSession, outbox: Outbox, inst: InstitutionRef, cohort: Cohort, body: GraduationIn, *,
                   actor: str) -> GraduationResult:
    year = body.year or body.decision_date.year
    cohort.graduation_decision_number, cohort.graduation_decision_date = body.decision_number, body.decision_date
    rows = await repository.cohort_enrolments(session, cohort.id)
    changes = ChangeLog()
    lines: list[GraduationLine] = []
    occupation_cache: dict[str, Occupation | None] = {}
    for enrolment, learner in rows:
        line = GraduationLine(enrolment_id=enrolment.id, learner_id=learner.id, full_name=learner.full_name, outcome="skipped")
        lines.append(line)
        if enrolment.status == "graduated":
            line.outcome = "already_graduated"
            continue
        if enrolment.status != "enrolled":
            line.reasons = [f"enrolment is {enrolment.status}"]
            continue
        rec = await record_of(session, enrolment)
        st = rec.standing
        line.gpa = str(st.gpa) if st.gpa is not None else None
        if not st.eligible:
            line.outcome, line.reasons = "not_eligible", list(st.reasons)
            continue
        band = st.classification
        session.add(EnrolmentStatusChange(
            id=uuid.uuid4(), enrolment_id=enrolment.id, previous_status=enrolment.status, status="graduated",
            effective_on=body.decision_date, reason=f"decision {body.decision_number}", source="api", actor=actor,
        ))
        enrolment.status, enrolment.graduated_on, enrolment.graduation_year = "graduated", body.decision_date, year
        enrolment.decision_number, enrolment.decision_date = body.decision_number, body.decision_date
        enrolment.gpa, enrolment.classification = st.gpa, band.key if band else None
        enrolment.version += 1
        line.outcome, line.classification = "graduated", band.key if band else None
        code = rec.programme.occupation_code
        if code and code not in occupation_cache:
            occupation_cache[code] = await repository.occupation(session, code)
        data = event_data(inst, learner, enrolment, rec, occupation_cache.get(code) if code else None, body, year)
        outbox.emit(session, EVENT_TYPE, data, subject=f"learner/{learner.id}")
        changes.add(inst.code, "enrolment", "upsert", {"institution_code": inst.code, "id_number": learner.id_number, "programme_code": rec.programme.code})
    await session.flush()
    await changes.flush(session)
    return GraduationResult(
        cohort_code=cohort.code,
        graduated=sum(line.outcome == "graduated" for line in lines),
        not_eligible=sum(line.outcome == "not_eligible" for line in lines),
        lines=lines,
    )
