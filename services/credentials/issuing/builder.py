"""Builds a credential document: a W3C VC 2.0 ``OpenBadgeCredential`` (Open Badges 3.0.3) carrying the diploma
fields of Vietnam's VET diplomas. Terms beyond VC and OB are defined by the platform's versioned context document
(``contexts/vet-credentials-v1.json``, served at its URL and bundled with every verifier here), with schema.org
terms where schema.org has them; its terms are protected, so a presented document cannot redefine them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.credentials.issuing import sealing
from services.credentials.issuing.schemas import CredentialIssue
from services.credentials.proofs.contexts import OB_V3, VC_V2, VET_V1
from services.credentials.proofs.dataintegrity import xsd_datetime

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")

TITLES = {
    "college": ("Bằng tốt nghiệp cao đẳng", "College diploma"),
    "intermediate": ("Bằng tốt nghiệp trung cấp", "Intermediate diploma"),
    "elementary": ("Chứng chỉ sơ cấp", "Elementary certificate"),
    "short_course": ("Chứng chỉ đào tạo", "Training certificate"),
    "course": ("Chứng nhận hoàn thành khóa học", "Course completion certificate"),
}
CLASSIFICATIONS = {"excellent": "Xuất sắc", "very_good": "Giỏi", "good": "Khá", "average": "Trung bình"}
MODES = {"full_time": "Chính quy", "part_time": "Vừa làm vừa học"}
GENDERS = {"male": "Nam", "female": "Nữ"}

#: layout of the signed documents this builder makes, kept on each credential record (``document_format``):
#: 2 = one ``credentialStatus`` object, the revocation entry. Format 1 (before, never written under this name: a
#: record without a format) carried a two-entry array, revocation and suspension; ``issuing/restatus.py`` signs
#: those again in format 2.
DOCUMENT_FORMAT = 2


@dataclass(frozen=True)
class Numbers:
    serial_number: str
    register_number: str


def title_of(item: CredentialIssue) -> str:
    return f"{TITLES[item.level][0]} — {item.achievement.name}"


def holder_identity(item: CredentialIssue) -> dict[str, Any]:
    """OB 3.0 ``IdentityObject`` of the holder (see :func:`sealing.identity_object`): the personal ID number when
    given (or its identity object sealed when the input was received), else the platform's id of the learner."""
    if item.sealed_identity is not None:
        return dict(item.sealed_identity)
    if item.holder.id_number:
        return sealing.identity_object(item.holder.id_number, "nationalIdentityNumber")
    identity = str(item.person_id) if item.person_id else f"{item.institution_code}:{item.learner_id}"
    return sealing.identity_object(identity, "systemId")


def _date(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None and v != [] and v != {}}


def build(
    item: CredentialIssue,
    *,
    credential_id: uuid.UUID,
    issuer_did: str,
    issuer_name: str,
    issued_at: datetime,
    numbers: Numbers,
    status: dict[str, Any],
    supersedes: uuid.UUID | None = None,
) -> dict[str, Any]:
    """The unsigned credential. ``status`` is its one ``credentialStatus`` entry: the revocation entry (Open Badges
    3.0 allows a single ``credentialStatus``; suspension is kept by the platform, see README "Credential status")."""
    ach = item.achievement
    grad = item.graduation
    is_course = item.kind == "course_certificate"
    level_vi, level_en = TITLES[item.level]
    achievement = _drop_none({
        "id": (f"urn:vet:course:{ach.code}" + (f":{ach.version}" if ach.version else "")) if is_course
        else f"urn:vet:programme:{item.institution_code}:{ach.code}",
        "type": ["Achievement"],
        "achievementType": "Diploma" if item.kind == "diploma" else "Certificate",
        "name": ach.name,
        "description": ach.description or f"{level_vi} ({level_en}): {ach.name}",
        "criteria": {"narrative": (
            "Hoàn thành khóa học theo yêu cầu (completed the course as required)" if is_course
            else "Hoàn thành chương trình đào tạo và đủ điều kiện tốt nghiệp (completed the training programme and met the graduation requirements)"
        )},
        "fieldOfStudy": ach.occupation_name or (ach.skill_area if is_course else ach.name),
        "humanCode": ach.occupation_code or ach.code,
        "creditsAvailable": ach.credits,
        "educationLevel": item.level,
        "occupationCode": ach.occupation_code,
        "trainingHours": str(ach.hours) if ach.hours is not None else None,
        "skillArea": ach.skill_area,
        "version": ach.version,
        "inLanguage": "vi",
    })
    holder = item.holder
    subject = _drop_none({
        "type": ["AchievementSubject"],
        "identifier": [holder_identity(item)],
        "name": holder.full_name,
        "birthDate": _date(holder.date_of_birth),
        "gender": GENDERS.get(holder.gender) if holder.gender else None,
        "birthPlace": holder.birth_place,
        "achievement": achievement,
        "creditsEarned": ach.credits,
        "graduationYear": grad.year,
        "graduationDecision": grad.decision_number,
        "decisionDate": _date(grad.decision_date),
        "trainingMode": MODES.get(grad.mode) if grad.mode else None,
        "gpa": f"{grad.gpa:.2f}" if grad.gpa is not None else None,
        "classification": CLASSIFICATIONS.get(grad.classification) if grad.classification else None,
        "finalScore": str(grad.final_score) if grad.final_score is not None else None,
    })
    signer = _drop_none({"name": item.signer.name, "jobTitle": item.signer.title}) if item.signer else None
    issued = xsd_datetime(issued_at)
    return _drop_none({
        "@context": [VC_V2, OB_V3, VET_V1],
        "id": f"urn:uuid:{credential_id}",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": title_of(item),
        "issuer": {"id": issuer_did, "type": ["Profile"], "name": issuer_name},
        "validFrom": issued,
        "awardedDate": issued,
        "credentialSubject": subject,
        "serialNumber": numbers.serial_number,
        "registerNumber": numbers.register_number,
        "issuePlace": item.issue_place,
        "issueDate": _date(item.issue_date or issued_at.astimezone(VIETNAM).date()),
        "signer": signer,
        "supersedes": f"urn:uuid:{supersedes}" if supersedes else None,
        "credentialStatus": status,
    })
