"""Liên thông and công nhận: credit transfer between institutions and levels, and recognition of prior learning.

A learner enrolled at the receiving institution asks it to recognise prior learning (``put_request``): the platform
looks up their results at any institution itself, and the learner presents diplomas or certificates from elsewhere
as signed credentials, each verified by the credentials service (:mod:`.verifier`; fail closed: a credential that
does not verify, or names someone else, is refused). The institution's equivalence rules (data: ``put_rule``) turn
them into items — one per receiving module and prior result — with the rule's checks (credits, minimum grade, age of
the result, the result passed); the institution approves or refuses each with a reason (``decide_item``: an approval
holds the item against the rule as it is then and the day's date in Vietnam, and a check failing by then refuses it,
the item's checks updated so the learner sees why). An approved item, like a recognised RPL assessment (work
experience assessed by an assessor and a panel on evidence files: ``decide_assessment``; the panel's enterprise
members see the evidence), becomes a recognised module of the enrolment: "công nhận" on the transcript, counted
toward graduation, its grade in the GPA only when the rule says so.

Writes are idempotent: a rule is put by its code, the learner's request is the one of their enrolment (sending it
again refreshes the pending items, decided ones stay), the same decision again is no change, a different one a
conflict."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.clock import vietnam_date
from services.common.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.common.pagination import Page, PageParams, paginate
from services.common.permissions import person_id_of
from services.common.storage import ObjectStore
from services.records import access
from services.records.models import (
    Enrolment,
    EquivalenceRule,
    InstitutionRef,
    Learner,
    Programme,
    RecognisedModule,
    RecognitionItem,
    RecognitionRequest,
    RplAssessment,
)
from services.records.recognition import repository
from services.records.recognition.schemas import (
    AssessmentDecisionIn,
    AssessmentIn,
    AssessmentRead,
    Check,
    DecisionIn,
    Evidence,
    EvidenceDownload,
    ItemRead,
    RecognisedRead,
    RequestIn,
    RequestRead,
    RuleIn,
    RuleRead,
)
from services.records.recognition.verifier import CredentialVerifier

LABEL = "công nhận"
#: how long an evidence file's download link lives
EVIDENCE_URL_SECONDS = 300
EVIDENCE_TYPES = {"application/pdf", "image/jpeg", "image/png", "video/mp4"}


async def _flush(session: AsyncSession) -> None:
    """Flush; a unique key taken meanwhile by a concurrent request (the same write sent twice at once) is a 409 —
    sent again, the write finds what the other made — not a 500."""
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict("The same change was being made by another request at the same time; send it again.") from None


_invalid = ValidationFailed.of_field


async def programme_of(session: AsyncSession, institution_code: str, programme_code: str) -> Programme:
    p = await repository.programme(session, institution_code, programme_code)
    if p is None:
        raise NotFound(f"No programme {programme_code} at {institution_code}.")
    return p


# -- equivalence rules -----------------------------------------------------------------------------------------------
def _rule_read(r: EquivalenceRule, p: Programme) -> RuleRead:
    return RuleRead(id=r.id, code=r.code, programme_code=p.code, module_code=r.module_code, source_kind=r.source_kind,  # type: ignore[arg-type]
                    source_module_code=r.source_module_code, source_institution_code=r.source_institution_code,
                    source_occupation_code=r.source_occupation_code, source_level=r.source_level,  # type: ignore[arg-type]
                    min_credits=r.min_credits, min_grade=r.min_grade, max_age_years=r.max_age_years, in_gpa=r.in_gpa)


async def put_rule(session: AsyncSession, p: Programme, code: str, body: RuleIn) -> tuple[RuleRead, bool]:
    modules = await repository.modules_of(session, p.id)
    if body.module_code not in modules:
        raise _invalid("module_code", f"programme {p.code} has no module {body.module_code}")
    if body.source_kind == "module" and not body.source_module_code:
        raise _invalid("source_module_code", "a module rule names the prior module")
    if body.source_kind != "module" and (body.source_module_code or body.source_institution_code):
        raise _invalid("source_module_code", "only a module rule names a prior module")
    if body.source_kind != "credential" and (body.source_occupation_code or body.source_level):
        raise _invalid("source_occupation_code", "only a credential rule names an occupation and level")
    if body.source_kind == "credential" and body.min_grade is not None and Decimal(body.min_grade) > 4:
        raise _invalid("min_grade", "a credential rule's minimum grade is a GPA, between 0 and 4")
    values = body.model_dump()
    row = await repository.rule(session, p.id, code)
    created = row is None
    if row is None:
        row = EquivalenceRule(id=uuid.uuid4(), institution_code=p.institution_code, programme_id=p.id, code=code, **values)
        session.add(row)
    else:
        for k, v in values.items():
            setattr(row, k, v)
    await _flush(session)
    return _rule_read(row, p), created


async def rules_read(session: AsyncSession, p: Programme) -> list[RuleRead]:
    return [_rule_read(r, p) for r in await repository.rules_of(session, p.id)]


# -- the learner's request -------------------------------------------------------------------------------------------
def _young_enough(obtained: date | None, years: int | None, today: date) -> Check | None:
    if years is None:
        return None
    if obtained is None:
        return Check(check="age", passed=False, detail="the result's date is not known")
    try:
        limit = obtained.replace(year=obtained.year + years)
    except ValueError:  # 29 February
        limit = obtained.replace(year=obtained.year + years, day=28)
    return Check(check="age", passed=today <= limit, detail=f"obtained {obtained.isoformat()}, at most {years} year(s) ago")


def _record_checks(rule: EquivalenceRule, row: dict[str, Any], today: date) -> list[Check]:
    score = Decimal(row["score"])
    checks = [Check(check="result", passed=bool(row["passed"]), detail=f"score {score}, {'passed' if row['passed'] else 'not passed'}"),
              Check(check="credits", passed=row["credits"] >= rule.min_credits, detail=f"{row['credits']} credit(s), at least {rule.min_credits}")]
    if rule.min_grade is not None:
        checks.append(Check(check="grade", passed=score >= Decimal(rule.min_grade), detail=f"score {score}, at least {rule.min_grade}"))
    if (age := _young_enough(repository.result_date(row), rule.max_age_years, today)) is not None:
        checks.append(age)
    return checks


def _holder_matches(document: dict[str, Any], learner: Learner) -> bool:
    """The credential names this learner: an identifier is the salted hash of their personal ID number (or their
    platform person id). Names are not enough."""
    subject = document.get("credentialSubject")
    identifiers = subject.get("identifier") if isinstance(subject, dict) else None
    if not isinstance(identifiers, list):
        return False
    for ident in identifiers:
        if not isinstance(ident, dict) or not isinstance(ident.get("salt"), str) or not isinstance(ident.get("identityHash"), str):
            continue
        value = {"nationalIdentityNumber": learner.id_number, "systemId": str(learner.person_id)}.get(str(ident.get("identityType")))
        if value is None:
            continue
        expected = "sha256$" + hashlib.sha256((value + ident["salt"]).encode("utf-8")).hexdigest()
        if hmac.compare_digest(expected, ident["identityHash"]):
            return True
    return False


def _credential_claims(document: dict[str, Any]) -> dict[str, Any]:
    def part(parent: dict[str, Any], key: str) -> dict[str, Any]:
        value = parent.get(key)
        return value if isinstance(value, dict) else {}

    subject = part(document, "credentialSubject")
    achievement, issuer = part(subject, "achievement"), part(document, "issuer")
    obtained = subject.get("decisionDate") or document.get("issueDate") or str(document.get("validFrom") or "")[:10] or None
    return {
        "credential_id": str(document.get("id") or "")[:150],
        "name": str(document.get("name") or achievement.get("name") or "")[:300],
        "issuer": str(issuer.get("name") or "")[:300],
        "occupation_code": achievement.get("occupationCode"),
        "level": achievement.get("educationLevel"),
        "credits": achievement.get("creditsAvailable") if isinstance(achievement.get("creditsAvailable"), int) else None,
        "gpa": subject.get("gpa") if isinstance(subject.get("gpa"), str) else None,
        "graduation_year": subject.get("graduationYear"),
        "obtained_on": obtained if isinstance(obtained, str) else None,
    }


def _credential_checks(rule: EquivalenceRule, claims: dict[str, Any], verified: dict[str, Any], holder: bool, today: date) -> list[Check]:
    checks = [Check(check="verified", passed=bool(verified.get("verified")), detail=f"credentials service: {verified.get('outcome')}"),
              Check(check="holder", passed=holder, detail="the credential names the learner" if holder else "the credential names someone else")]
    credits = claims["credits"]
    checks.append(Check(check="credits", passed=credits is not None and credits >= rule.min_credits,
                        detail=f"{credits if credits is not None else '-'} credit(s), at least {rule.min_credits}"))
    if rule.min_grade is not None:
        try:
            gpa = Decimal(claims["gpa"]) if claims["gpa"] else None
        except ArithmeticError:
            gpa = None
        checks.append(Check(check="grade", passed=gpa is not None and gpa >= Decimal(rule.min_grade),
                            detail=f"GPA {claims['gpa'] or '-'}, at least {rule.min_grade}"))
    try:
        obtained = date.fromisoformat(claims["obtained_on"]) if claims["obtained_on"] else None
    except ValueError:
        obtained = None
    if (age := _young_enough(obtained, rule.max_age_years, today)) is not None:
        checks.append(age)
    return checks


def _matches_credential(rule: EquivalenceRule, claims: dict[str, Any]) -> bool:
    return (rule.source_kind == "credential"
            and (rule.source_occupation_code is None or rule.source_occupation_code == claims["occupation_code"])
            and (rule.source_level is None or rule.source_level == claims["level"]))


async def current_enrolment(session: AsyncSession, principal: Principal, institution_code: str,
                            programme_code: str) -> tuple[Enrolment, Learner, Programme]:
    """The signed-in learner's current enrolment in ``programme_code`` (403 not a person, 404 none, 409 not current)."""
    person = person_id_of(principal)
    if person is None:
        raise Forbidden("A recognition request is made by the learner, signed in.")
    found = await repository.person_enrolment(session, uuid.UUID(person), institution_code, programme_code)
    if found is None:
        raise NotFound(f"You are not enrolled in programme {programme_code} at {institution_code}.")
    enrolment, _, _ = found
    if enrolment.status != "enrolled":
        raise Conflict(f"The enrolment is {enrolment.status}: only a current enrolment has modules recognised.")
    return found


async def verify_credentials(verifier: CredentialVerifier, body: RequestIn) -> list[dict[str, Any]]:
    """The credentials service's result for each credential the learner presents, in order. Call it with no write
    transaction open (after :func:`current_enrolment` on a read, so a refused request asks nothing)."""
    return [await verifier.verify(document) for document in body.credentials]


async def put_request(session: AsyncSession, principal: Principal, institution_code: str, programme_code: str, body: RequestIn,
                      verified_all: list[dict[str, Any]], now: datetime) -> tuple[RequestRead, bool]:
    """The signed-in learner's request for their enrolment in ``programme_code``; (the request, created).
    ``verified_all``: :func:`verify_credentials` of ``body``, asked before this write transaction opened."""
    enrolment, learner, p = await current_enrolment(session, principal, institution_code, programme_code)
    today = vietnam_today(now)
    rules = await repository.rules_of(session, p.id)
    candidates: dict[tuple[str, str], tuple[EquivalenceRule, str, dict[str, Any], list[Check], str | None]] = {}
    # the platform's own records: the best sitting of each prior module, per enrolment
    best: dict[tuple[uuid.UUID, str], dict[str, Any]] = {}
    for row in await repository.prior_results(session, learner.person_id, enrolment.id):
        key = (row["enrolment_id"], row["module_code"])
        if key not in best or Decimal(row["score"]) > Decimal(best[key]["score"]):
            best[key] = row
    for rule in (r for r in rules if r.source_kind == "module"):
        for (prior_enrolment, module_code), row in best.items():
            if module_code != rule.source_module_code:
                continue
            if rule.source_institution_code is not None and row["institution_code"] != rule.source_institution_code:
                continue
            obtained = repository.result_date(row)
            source = {"institution_code": row["institution_code"], "programme_code": row["programme_code"],
                      "programme_name": row["programme_name"], "level": row["level"], "module_code": module_code,
                      "module_name": row["module_name"], "credits": row["credits"], "score": format(Decimal(row["score"]).normalize(), "f"),
                      "obtained_on": obtained.isoformat() if obtained else None}
            candidates[(rule.module_code, f"record:{prior_enrolment}:{module_code}")] = (rule, "record", source, _record_checks(rule, row, today), None)
    # credentials the learner presents: verified by the credentials service, and the learner's own
    for document, verified in zip(body.credentials, verified_all, strict=True):
        claims = _credential_claims(document)
        holder = _holder_matches(document, learner)
        refusal = None
        if not verified.get("verified"):
            refusal = f"The credential does not verify ({verified.get('outcome')})."
        elif not holder:
            refusal = "The credential does not name this learner."
        # the credential's id and a digest of the document as presented: a tampered copy is another source
        digest = hashlib.sha256(json.dumps(document, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]
        source_key = f"credential:{claims['credential_id'][:150]}:{digest}"
        for rule in rules:
            if _matches_credential(rule, claims):
                candidates[(rule.module_code, source_key)] = (rule, "credential", claims | {"outcome": verified.get("outcome")},
                                                              _credential_checks(rule, claims, verified, holder, today), refusal)
    request = await repository.request_of_enrolment(session, enrolment.id)
    created = request is None
    if request is None:
        request = RecognitionRequest(id=uuid.uuid4(), institution_code=enrolment.institution_code, enrolment_id=enrolment.id,
                                     person_id=learner.person_id, status="submitted")
        session.add(request)
        await _flush(session)
    existing = {(i.module_code, i.source_key): i for i in await repository.items_of(session, request.id)}
    for key, (rule, kind, source, checks, refusal) in candidates.items():
        item = existing.pop(key, None)
        status, reason = ("refused", refusal) if refusal else ("pending", None)
        checks_json = [c.model_dump() for c in checks]
        if item is None:
            session.add(RecognitionItem(id=uuid.uuid4(), request_id=request.id, module_code=key[0], rule_id=rule.id, source_kind=kind,
                                        source_key=key[1], source=source, checks=checks_json, status=status, reason=reason,
                                        decided_by="platform" if refusal else None, decided_at=now if refusal else None))
        elif ((item.status == "pending" or (item.status == "refused" and item.decided_by == "platform"))
              and (item.rule_id, item.source, item.checks, item.status, item.reason) != (rule.id, source, checks_json, status, reason)):
            # not decided by anyone yet (or refused by the platform's own checks), and changed: refreshed from what was sent now
            item.rule_id, item.source, item.checks, item.status, item.reason = rule.id, source, checks_json, status, reason
            item.decided_by, item.decided_at = ("platform", now) if refusal else (None, None)
    for item in existing.values():
        if item.status == "pending" or item.decided_by == "platform":
            await session.delete(item)  # its source was not sent again
    await _flush(session)
    await _refresh_status(session, request)
    return await request_read(session, request), created


async def _refresh_status(session: AsyncSession, request: RecognitionRequest) -> None:
    items = await repository.items_of(session, request.id)
    status = "decided" if items and all(i.status != "pending" for i in items) else "submitted"
    if request.status != status:
        request.status = status
        await _flush(session)


async def request_read(session: AsyncSession, request: RecognitionRequest) -> RequestRead:
    found = await repository.enrolment(session, request.enrolment_id)
    if found is None:
        raise NotFound("The request's enrolment is gone.")
    _, learner, p = found
    modules = await repository.modules_of(session, p.id)
    items = await repository.items_of(session, request.id)
    rules = await repository.rules_by_id(session, [i.rule_id for i in items if i.rule_id])
    return RequestRead(
        id=request.id, institution_code=request.institution_code, programme_code=p.code, enrolment_id=request.enrolment_id,
        learner_name=learner.full_name, status=request.status, created_at=request.created_at,  # type: ignore[arg-type]
        items=[ItemRead(id=i.id, module_code=i.module_code, module_name=modules[i.module_code].name if i.module_code in modules else None,
                        rule_code=rules[i.rule_id].code if i.rule_id in rules else None, source_kind=i.source_kind, source=i.source,
                        checks=[Check(**c) for c in i.checks], status=i.status, reason=i.reason, score=i.score,  # type: ignore[arg-type]
                        decided_by=i.decided_by, decided_at=i.decided_at) for i in items],
    )


def ensure_readable(principal: Principal, request: RecognitionRequest, inst: InstitutionRef) -> None:
    """The learner themself, or the receiving institution's readers; anyone else learns nothing, not even that the
    request exists (404)."""
    if person_id_of(principal) == str(request.person_id) or access.may_read(principal, inst):
        return
    raise NotFound("No such recognition request.")


async def request_of(session: AsyncSession, request_id: uuid.UUID) -> RecognitionRequest:
    request = await repository.request(session, request_id)
    if request is None:
        raise NotFound("No such recognition request.")
    return request


async def institution_requests(session: AsyncSession, code: str, status: str | None) -> list[RequestRead]:
    return [await request_read(session, r) for r in await repository.requests_of_institution(session, code, status)]


async def my_requests(session: AsyncSession, principal: Principal) -> list[RequestRead]:
    person = person_id_of(principal)
    if person is None:
        raise Forbidden("This is for a signed-in learner.")
    return [await request_read(session, r) for r in await repository.requests_of_person(session, uuid.UUID(person))]


def _source_label(kind: str, source: dict[str, Any]) -> str:
    if kind == "record":
        return (f"{source['module_name']} ({source['module_code']}), {source['programme_name']}, {source['institution_code']}, "
                f"điểm {source['score']}")[:500]
    if kind == "credential":
        return f"{source['name']}, {source['issuer']}, {source.get('graduation_year') or ''} (văn bằng đã xác thực)".strip()[:500]
    return str(source.get("label", ""))[:500]


async def _recognise(session: AsyncSession, enrolment_id: uuid.UUID, module_code: str, kind: str, label: str, score: str | None,
                     in_gpa: bool, actor: str, now: datetime, *, item_id: uuid.UUID | None = None,
                     assessment_id: uuid.UUID | None = None) -> None:
    held = await repository.recognised(session, enrolment_id, module_code)
    if held is not None:
        raise Conflict(f"Module {module_code} is already recognised for this enrolment ({held.source_label}).")
    session.add(RecognisedModule(enrolment_id=enrolment_id, module_code=module_code, source_kind=kind, source_label=label, score=score,
                                 in_gpa=in_gpa and score is not None, item_id=item_id, assessment_id=assessment_id, decided_by=actor,
                                 recognised_at=now))


async def decide_item(session: AsyncSession, request: RecognitionRequest, item_id: uuid.UUID, body: DecisionIn, actor: str,
                      now: datetime) -> RequestRead | ValidationFailed:
    """The request after the decision; or, when an approval finds a check failing as it stands now (the rule edited
    since the request, the result grown too old), the problem to answer with — the item's checks updated, kept."""
    item = await repository.item(session, item_id)
    if item is None or item.request_id != request.id:
        raise NotFound("No such item in this request.")
    if item.status != "pending":
        if item.status == body.decision and (item.reason or None) == (body.reason or None) and (body.score is None or body.score == item.score):
            return await request_read(session, request)  # the same decision again
        raise Conflict(f"The item is already {item.status}.")
    if body.decision == "refused":
        if not body.reason:
            raise _invalid("reason", "a refusal says why")
        item.status, item.reason, item.decided_by, item.decided_at = "refused", body.reason, actor, now
    else:
        rules = await repository.rules_by_id(session, [item.rule_id] if item.rule_id else [])
        rule = rules.get(item.rule_id) if item.rule_id else None
        if rule is None:
            raise Conflict("The equivalence rule of this item was removed; ask the learner to send the request again.")
        # the checks as they stand today, against the rule as it is now (edited since? the result grown too old?)
        checks = [c.model_dump() for c in await _checks_now(session, request, item, rule, now)]
        if checks != item.checks:
            item.checks = checks
            await _flush(session)
        failed = [c for c in checks if not c["passed"]]
        if failed:
            # returned, not raised: the request's transaction commits the checks as they stand, so the learner sees why
            return ValidationFailed("decision: the rule's conditions are not met: " + "; ".join(f"{c['check']}: {c['detail']}" for c in failed),
                                    errors=[{"field": "decision", "message": f"check {c['check']} fails: {c['detail']}"} for c in failed])
        score = body.score or (item.source.get("score") if item.source_kind == "record" else None)
        if rule.in_gpa and score is None:
            raise _invalid("score", f"rule {rule.code} counts the recognised grade in the GPA: give the score (0–10)")
        await _recognise(session, request.enrolment_id, item.module_code, item.source_kind, _source_label(item.source_kind, item.source),
                         score if rule.in_gpa else None, rule.in_gpa, actor, now, item_id=item.id)
        item.status, item.reason, item.score, item.decided_by, item.decided_at = "approved", body.reason, score, actor, now
    await _flush(session)
    await _refresh_status(session, request)
    return await request_read(session, request)


def vietnam_today(now: datetime) -> date:
    """The date in Vietnam (UTC+7) at ``now``: a result's age is counted in the learner's days."""
    return vietnam_date(now)


async def _checks_now(session: AsyncSession, request: RecognitionRequest, item: RecognitionItem, rule: EquivalenceRule,
                      now: datetime) -> list[Check]:
    """An item's checks evaluated again at decision time: the rule as it is now, today's date in Vietnam. A prior record
    is read again from the platform; a credential keeps what its verification said when it was presented (verified,
    holder) and its claims are held against the rule again."""
    today = vietnam_today(now)
    stale = [Check(check="rule", passed=False, detail=f"rule {rule.code} now recognises module {rule.module_code} from "
                                                      f"{rule.source_kind}, not this source")]
    if rule.module_code != item.module_code or rule.source_kind != {"record": "module"}.get(item.source_kind, item.source_kind):
        return stale
    if item.source_kind == "record":
        _, prior_enrolment, module_code = item.source_key.split(":", 2)
        rows = [r for r in await repository.prior_results(session, request.person_id, request.enrolment_id)
                if str(r["enrolment_id"]) == prior_enrolment and r["module_code"] == module_code]
        if not rows:
            return [Check(check="result", passed=False, detail="the prior result is no longer on the platform")]
        if rule.source_module_code != module_code or (rule.source_institution_code is not None
                                                      and rows[0]["institution_code"] != rule.source_institution_code):
            return stale
        best = max(rows, key=lambda r: Decimal(r["score"]))
        return _record_checks(rule, best, today)
    if item.source_kind == "credential":
        if not _matches_credential(rule, item.source):
            return stale
        was = {c["check"]: bool(c["passed"]) for c in item.checks}
        verified = {"verified": was.get("verified", False), "outcome": item.source.get("outcome")}
        return _credential_checks(rule, item.source, verified, was.get("holder", False), today)
    return [Check(**c) for c in item.checks]


# -- recognition of prior learning from work experience ------------------------------------------------------------
async def enrolment_of(session: AsyncSession, enrolment_id: uuid.UUID) -> tuple[Enrolment, Learner, Programme]:
    found = await repository.enrolment(session, enrolment_id)
    if found is None:
        raise NotFound("No such enrolment.")
    return found


def assessment_read(a: RplAssessment) -> AssessmentRead:
    return AssessmentRead.model_validate({
        "id": a.id, "institution_code": a.institution_code, "enrolment_id": a.enrolment_id, "module_code": a.module_code,
        "assessor": a.assessor, "panel": a.panel, "experience": a.experience,
        "evidence": [{k: e[k] for k in ("name", "content_type", "size", "sha256")} for e in a.evidence],
        "decision": a.decision, "score": a.score, "reason": a.reason, "decided_by": a.decided_by, "decided_at": a.decided_at})


async def put_assessment(session: AsyncSession, found: tuple[Enrolment, Learner, Programme], module_code: str,
                         body: AssessmentIn) -> tuple[AssessmentRead, bool]:
    enrolment, learner, p = found
    if module_code not in await repository.modules_of(session, p.id):
        raise NotFound(f"Programme {p.code} has no module {module_code}.")
    a = await repository.assessment(session, enrolment.id, module_code)
    panel = [m.model_dump() for m in body.panel]
    if a is None:
        a = RplAssessment(id=uuid.uuid4(), institution_code=enrolment.institution_code, enrolment_id=enrolment.id, person_id=learner.person_id,
                          module_code=module_code, assessor=body.assessor, panel=panel, experience=body.experience, evidence=[])
        session.add(a)
        await _flush(session)
        return assessment_read(a), True
    if (a.assessor, a.panel, a.experience) != (body.assessor, panel, body.experience):
        if a.decision is not None:
            raise Conflict("The assessment is decided; it is not changed any more.")
        a.assessor, a.panel, a.experience = body.assessor, panel, body.experience
        await _flush(session)
    return assessment_read(a), False


async def assessment_of(session: AsyncSession, assessment_id: uuid.UUID) -> RplAssessment:
    a = await repository.assessment_by_id(session, assessment_id)
    if a is None:
        raise NotFound("No such assessment.")
    return a


async def my_assessments(session: AsyncSession, principal: Principal, page: PageParams) -> Page[AssessmentRead]:
    """The signed-in learner's own RPL assessments (by person, at any institution), oldest first."""
    person = person_id_of(principal)
    if person is None:
        raise Forbidden("This is for a signed-in learner.")
    keys = (RplAssessment.created_at, RplAssessment.id)
    doc = await paginate(session, repository.assessments_of_person(uuid.UUID(person)), keys, page, transform=assessment_read)
    return Page[AssessmentRead](items=doc.items, next_cursor=doc.next_cursor)


def may_read_assessment(principal: Principal, a: RplAssessment, inst: InstitutionRef) -> bool:
    return person_id_of(principal) == str(a.person_id) or access.may_read(principal, inst)


async def is_panel_member(session: AsyncSession, principal: Principal, a: RplAssessment) -> bool:
    """The signed-in person is the member an invited enterprise named for this assessment's panel, bound to their
    account by the enterprise's answer, and still on the panel. Nobody else of that enterprise, nor of another."""
    person = person_id_of(principal)
    if person is None:
        return False
    for inv in await repository.panel_invitations(session, a.id):
        response = inv.response or {}
        if inv.institution_code != a.institution_code or response.get("member_person_id") != person:
            continue
        if any(m.get("institution_code") == inv.enterprise_code and m.get("name") == response.get("member_name") for m in a.panel):
            return True
    return False


async def may_see_evidence(session: AsyncSession, principal: Principal, a: RplAssessment, inst: InstitutionRef) -> bool:
    """The institution's readers, the learner, and the panel's enterprise members."""
    return may_read_assessment(principal, a, inst) or await is_panel_member(session, principal, a)


def evidence_read(a: RplAssessment) -> list[Evidence]:
    return [Evidence(**{k: e[k] for k in ("name", "content_type", "size", "sha256")}) for e in a.evidence]


async def add_evidence(session: AsyncSession, store: ObjectStore, a: RplAssessment, name: str, content_type: str,
                       data: AsyncIterable[bytes], length: int | None) -> AssessmentRead:
    """Stores one evidence file (by name: the same name again replaces it; the same bytes again change nothing)."""
    if a.decision is not None:
        raise Conflict("The assessment is decided; its evidence is kept as it was.")
    base = content_type.split(";")[0].strip().lower()
    if base not in EVIDENCE_TYPES:
        raise _invalid("content-type", f"evidence is one of {', '.join(sorted(EVIDENCE_TYPES))}")
    stored = await store.put(f"records/rpl/{a.id}/{uuid.uuid4().hex}", data, content_type=base, length=length)
    entry = {"name": name, "key": stored.key, "content_type": base, "size": stored.size, "sha256": stored.sha256}
    kept = [e for e in a.evidence if e["name"] != name]
    same = [e for e in a.evidence if e["name"] == name and e["sha256"] == stored.sha256]
    if same:
        await store.delete(stored.key)  # the same file again: the first copy stays
        return assessment_read(a)
    a.evidence = [*kept, entry]
    await _flush(session)
    return assessment_read(a)


async def evidence_download(store: ObjectStore, a: RplAssessment, name: str) -> EvidenceDownload:
    entry = next((e for e in a.evidence if e["name"] == name), None)
    if entry is None:
        raise NotFound(f"No evidence file {name} in this assessment.")
    url = await store.download_url(entry["key"], expires_seconds=EVIDENCE_URL_SECONDS, filename=name)
    return EvidenceDownload(name=name, content_type=entry["content_type"], download_url=url, expires_in=EVIDENCE_URL_SECONDS)


def check_panel(body: AssessmentIn, institution_code: str, registered: dict[str, InstitutionRef]) -> None:
    """A panel member from an organisation on the registry is from an enterprise, or from the institution itself."""
    for i, member in enumerate(body.panel):
        ref = registered.get(member.institution_code) if member.institution_code else None
        if ref is not None and ref.code != institution_code and ref.type != "enterprise":
            raise _invalid(f"panel[{i}].institution_code", f"{ref.code} is registered as {ref.type}, not as an enterprise")


async def decide_assessment(session: AsyncSession, a: RplAssessment, body: AssessmentDecisionIn, actor: str, now: datetime) -> AssessmentRead:
    if a.decision is not None:
        if (a.decision, a.score, a.reason) == (body.decision, body.score, body.reason):
            return assessment_read(a)
        raise Conflict(f"The assessment is already decided ({a.decision}).")
    if not a.evidence:
        raise _invalid("evidence", "an assessment is decided on evidence: upload at least one file")
    if body.decision == "not_recognised":
        if not body.reason:
            raise _invalid("reason", "a refusal says why")
    else:
        found = await enrolment_of(session, a.enrolment_id)
        rules = [r for r in await repository.rules_of(session, found[2].id) if r.source_kind == "experience" and r.module_code == a.module_code]
        if not rules:
            raise _invalid("decision", f"no equivalence rule lets work experience recognise module {a.module_code}")
        rule = rules[0]
        if rule.min_grade is not None and (body.score is None or Decimal(body.score) < Decimal(rule.min_grade)):
            raise _invalid("score", f"rule {rule.code} asks for a score of at least {rule.min_grade}")
        if rule.in_gpa and body.score is None:
            raise _invalid("score", f"rule {rule.code} counts the recognised grade in the GPA: give the score (0–10)")
        label = f"Đánh giá kỹ năng nghề tích lũy ({a.assessor}, {vietnam_today(now).isoformat()})"
        await _recognise(session, a.enrolment_id, a.module_code, "experience", label, body.score if rule.in_gpa else None, rule.in_gpa,
                         actor, now, assessment_id=a.id)
    a.decision, a.score, a.reason, a.decided_by, a.decided_at = body.decision, body.score, body.reason, actor, now
    await _flush(session)
    return assessment_read(a)


async def recognised_read(session: AsyncSession, enrolment_id: uuid.UUID) -> list[RecognisedRead]:
    return [RecognisedRead(module_code=r.module_code, source_kind=r.source_kind, source=r.source_label, score=r.score, in_gpa=r.in_gpa,
                           recognised_at=r.recognised_at) for r in await repository.recognised_of(session, enrolment_id)]
