"""Correcting a learner's personal ID number: the natural key changes, so the change feed reports key changes
(old key → new key) for the learner and for every enrolment and grade whose key carries the number; the OneRoster
users remembered with the old number name the new one."""

from __future__ import annotations

import uuid

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.errors import Conflict, ValidationFailed
from services.records.access import actor_of
from services.records.changes.service import ChangeLog
from services.records.models import Enrolment, Grade, Learner, LearnerKeyChange, Module, Programme, Term
from services.records.sync import sourced_ids
from services.records.sync.runner import identity_resolver


async def correct_id_number(session: AsyncSession, request: Request, principal: Principal, learner: Learner,
                            new_number: str, reason: str) -> LearnerKeyChange:
    old_number, code = learner.id_number, learner.institution_code
    if new_number == old_number:
        raise ValidationFailed("The new personal ID number is the one on record.", errors=[{"field": "id_number", "message": "unchanged"}])
    taken = await session.scalar(select(Learner.id).where(Learner.institution_code == code, Learner.id_number == new_number))
    if taken is not None:
        raise Conflict(f"Another learner at institution {code} has this personal ID number.")
    person = {"id_number": new_number, "full_name": learner.full_name,
              "date_of_birth": learner.date_of_birth.isoformat() if learner.date_of_birth else None,
              "gender": learner.sex, "birth_place": learner.birth_place}
    (result,) = await identity_resolver(request.app)([{k: v for k, v in person.items() if v is not None}])
    if not result.get("person_id"):
        errors = [{"field": {"gender": "sex"}.get(e.get("field", "id_number"), e.get("field", "id_number")), "message": e.get("message", "invalid")}
                  for e in result.get("errors") or [{"field": "id_number", "message": "rejected by the person registry"}]]
        raise ValidationFailed("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)
    change = LearnerKeyChange(
        id=uuid.uuid4(), learner_id=learner.id, institution_code=code, old_id_number=old_number, new_id_number=new_number,
        old_person_id=learner.person_id, new_person_id=uuid.UUID(str(result["person_id"])), reason=reason, actor=actor_of(principal),
    )
    session.add(change)
    learner.id_number, learner.person_id = new_number, change.new_person_id
    await sourced_ids.renumber(session, code, old_number, new_number)  # OneRoster users named by the old number

    changes = ChangeLog()
    learner_key = {"institution_code": code, "id_number": new_number}
    changes.add(code, "learner", "key_change", learner_key, {"institution_code": code, "id_number": old_number})
    enrolments = (await session.execute(
        select(Programme.code).select_from(Enrolment).join(Programme, Enrolment.programme_id == Programme.id)
        .where(Enrolment.learner_id == learner.id).order_by(Programme.code)
    )).scalars().all()
    for programme_code in enrolments:
        changes.add(code, "enrolment", "key_change", learner_key | {"programme_code": programme_code},
                    {"institution_code": code, "id_number": old_number, "programme_code": programme_code})
    grades = (await session.execute(
        select(Programme.code, Module.code, Term.code).select_from(Grade)
        .join(Enrolment, Grade.enrolment_id == Enrolment.id).join(Programme, Enrolment.programme_id == Programme.id)
        .join(Module, Grade.module_id == Module.id).join(Term, Grade.term_id == Term.id)
        .where(Enrolment.learner_id == learner.id).order_by(Programme.code, Term.code, Module.code)
    )).all()
    for programme_code, module_code, term_code in grades:
        rest = {"programme_code": programme_code, "module_code": module_code, "term_code": term_code}
        changes.add(code, "grade", "key_change", learner_key | rest, {"institution_code": code, "id_number": old_number} | rest)
    await session.flush()
    await changes.flush(session)
    return change
