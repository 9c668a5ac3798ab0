from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from services.common import id_numbers
from services.credentials.issuing.wellformed import IRI_SAFE, IRI_SAFE_DESCRIPTION, is_iri_safe, refused_character

CODE = r"^[A-Z0-9][A-Z0-9._\-]{1,19}$"

Kind = Literal["diploma", "certificate", "course_certificate"]
Level = Literal["elementary", "intermediate", "college", "short_course", "course"]
Classification = Literal["excellent", "very_good", "good", "average"]
Mode = Literal["full_time", "part_time"]
Gender = Literal["male", "female"]

#: which levels each kind of credential is for
LEVELS_OF_KIND: dict[str, set[str]] = {
    "diploma": {"intermediate", "college"},
    "certificate": {"elementary", "short_course"},
    "course_certificate": {"course"},
}


def _strip(v: str | None) -> str | None:
    """Surrounding white space trimmed; otherwise text is kept as sent, NFC or NFD (see ``issuing/wellformed.py``)."""
    return v.strip() if v is not None else None


def _iri_safe(v: str) -> str:
    if not is_iri_safe(v):
        raise PydanticCustomError("iri_safe", IRI_SAFE_DESCRIPTION)
    return v


def _iri_part(max_length: int, description: str, **kw: Any) -> Any:
    """The field of a code that becomes part of an IRI: :data:`IRI_SAFE` characters only (documented in the
    schema; checked by the alias's ``AfterValidator(_iri_safe)``)."""
    return Field(min_length=1, max_length=max_length, description=f"{description}; {IRI_SAFE_DESCRIPTION}",
                 json_schema_extra={"pattern": IRI_SAFE}, **kw)


# spelled out as ``Annotated`` aliases (not built by a function) so that type checkers take them as types
AchievementCode: TypeAlias = Annotated[str, AfterValidator(_iri_safe),
                                       _iri_part(100, "programme code, or the course id", examples=["6480201"])]
CourseVersion: TypeAlias = Annotated[str, AfterValidator(_iri_safe), _iri_part(50, "course version", examples=["3"])]


class Input(BaseModel):
    """An issuing input: unknown fields are refused, and so is text with a character that cannot be signed (a
    control character or an unpaired surrogate, in any field), named by its field."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _signable(cls, v: Any) -> Any:
        if isinstance(v, str) and (problem := refused_character(v)) is not None:
            raise PydanticCustomError("refused_character", problem)
        return v


class Holder(Input):
    """Who the credential is for. ``id_number`` is only hashed (salted) into the credential, never stored."""

    full_name: str = Field(min_length=1, max_length=300, examples=["Trần Văn Minh"])
    date_of_birth: date | None = None
    gender: Gender | None = None
    birth_place: str | None = Field(default=None, max_length=300)
    id_number: str | None = Field(default=None, json_schema_extra={"pattern": r"^[0-9]{12}$"},
                                  description="personal identification number (số định danh cá nhân), checked as identity "
                                              "checks it: 12 digits, a province code of birth registration, the century + "
                                              "gender digit agreeing with date_of_birth and gender when given; hashed")

    _norm = field_validator("full_name", "birth_place")(_strip)

    @field_validator("id_number")
    @classmethod
    def _id_number(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and (broken := id_numbers.check(v, date_of_birth=info.data.get("date_of_birth"), gender=info.data.get("gender"))):
            raise PydanticCustomError("id_number", "; ".join(r.message for r in broken))
        return v


class Achievement(Input):
    """What was achieved: the programme (occupation) or the course."""

    code: AchievementCode
    name: str = Field(min_length=1, max_length=300, examples=["Công nghệ thông tin (ứng dụng phần mềm)"])
    occupation_code: str | None = Field(default=None, pattern=r"^\d{7}$", description="national 7-digit occupation code")
    occupation_name: str | None = Field(default=None, max_length=300)
    credits: int | None = Field(default=None, ge=0, le=1000)
    hours: Decimal | None = Field(default=None, ge=0, le=100_000)
    version: CourseVersion | None = None
    skill_area: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=2000)

    _norm = field_validator("name", "occupation_name", "description", "skill_area")(_strip)


class Graduation(Input):
    year: int = Field(ge=1975, le=2100)
    decision_number: str | None = Field(default=None, max_length=100)
    decision_date: date | None = None
    mode: Mode | None = Field(default=None, description="full_time (chính quy) or part_time (vừa làm vừa học)")
    gpa: Decimal | None = Field(default=None, ge=0, le=4, decimal_places=2)
    classification: Classification | None = None
    final_score: Decimal | None = Field(default=None, ge=0, le=100, description="course final score")
    completed_at: datetime | None = None


class Signer(Input):
    name: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=200, examples=["Hiệu trưởng"])

    _norm = field_validator("name", "title")(_strip)


class CredentialIssue(Input):
    """One credential to issue. Idempotent on (institution, learner, achievement, year): the learner is
    ``person_id`` when given, else ``learner_id``. Text is signed as sent (NFC or NFD), never with control
    characters; codes that become IRIs use letters, digits and ``- . _ ~`` only."""

    institution_code: str = Field(pattern=CODE, examples=["CD0101"])
    kind: Kind
    level: Level
    person_id: uuid.UUID | None = None
    learner_id: str | None = Field(default=None, min_length=1, max_length=100)
    holder: Holder
    achievement: Achievement
    graduation: Graduation
    serial_number: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9/._\-]{0,49}$", description="số hiệu")
    register_number: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9/._\-]{0,49}$", description="số vào sổ cấp văn bằng")
    issue_place: str | None = Field(default=None, max_length=200)
    issue_date: date | None = None
    signer: Signer | None = None

    _norm = field_validator("issue_place")(_strip)
    #: set by the service, never from input: the holder's ``IdentityObject`` and the input's fingerprint when the
    #: input was sealed on receipt and its ID number dropped (``issuing/sealing.py``)
    _sealed_identity: dict[str, Any] | None = PrivateAttr(default=None)
    _input_fingerprint: str | None = PrivateAttr(default=None)

    def with_seal(self, identity: dict[str, Any] | None, fingerprint: str | None) -> CredentialIssue:
        self._sealed_identity, self._input_fingerprint = identity, fingerprint
        return self

    @property
    def sealed_identity(self) -> dict[str, Any] | None:
        return self._sealed_identity

    @property
    def sealed_fingerprint(self) -> str | None:
        return self._input_fingerprint

    @property
    def learner_ref(self) -> str:
        return f"person:{self.person_id}" if self.person_id else f"learner:{self.learner_id}"

    @property
    def achievement_ref(self) -> str:
        return f"course:{self.achievement.code}" if self.kind == "course_certificate" else self.achievement.code

    def natural_key(self) -> tuple[str, str, str, int]:
        return (self.institution_code, self.learner_ref, self.achievement_ref, self.graduation.year)


class StatusChangeIn(Input):
    reason: str = Field(min_length=1, max_length=500)

    _norm = field_validator("reason")(_strip)


class Reissue(Input):
    """A corrected credential: the fields to change (anything of :class:`CredentialIssue` but the natural key)."""

    reason: str = Field(min_length=1, max_length=500)
    holder: Holder | None = None
    achievement: Achievement | None = None
    graduation: Graduation | None = None
    serial_number: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9/._\-]{0,49}$")
    register_number: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9/._\-]{0,49}$")
    issue_place: str | None = Field(default=None, max_length=200)
    issue_date: date | None = None
    signer: Signer | None = None


class CredentialRead(BaseModel):
    id: uuid.UUID
    institution_code: str
    issuer_did: str
    kind: str
    level: str
    title: str
    holder_name: str
    person_id: uuid.UUID | None
    learner_id: str | None
    achievement_code: str
    award_year: int
    revision: int
    serial_number: str
    register_number: str
    status: str
    status_reason: str | None
    supersedes: uuid.UUID | None
    superseded_by: uuid.UUID | None
    verify_url: str
    issued_at: datetime
    document: dict[str, Any] | None = Field(default=None, description="the signed credential (W3C VC 2.0 / OB 3.0)")


class CredentialSummary(BaseModel):
    """A row of a list: the credential without its document."""

    id: uuid.UUID
    institution_code: str
    kind: str
    title: str
    holder_name: str
    award_year: int
    status: str
    issued_at: datetime


class PdfDownload(BaseModel):
    download_url: str = Field(description="downloads the PDF until it expires (no token needed)")
    expires_in: int = Field(description="seconds")
    verify_url: str = Field(description="the address in the QR code")


class BatchIssue(Input):
    """A graduating cohort: every item issued (or found already issued) by a background job."""

    institution_code: str = Field(pattern=CODE)
    credentials: list[CredentialIssue] = Field(min_length=1)



def item_errors(item: CredentialIssue, prefix: str = "") -> list[dict[str, str]]:
    """Rules across fields, each error naming its field (``prefix`` locates the item in a batch)."""
    errors: list[dict[str, str]] = []
    if item.person_id is None and item.learner_id is None:
        errors.append({"field": f"{prefix}person_id", "message": "person_id or learner_id is required"})
    if item.level not in LEVELS_OF_KIND[item.kind]:
        errors.append({"field": f"{prefix}level",
                       "message": f"a {item.kind} is for levels {', '.join(sorted(LEVELS_OF_KIND[item.kind]))}, not {item.level}"})
    occ = item.achievement.occupation_code
    if occ and item.level == "intermediate" and not occ.startswith("5"):
        errors.append({"field": f"{prefix}achievement.occupation_code", "message": "intermediate (trung cấp) occupation codes begin with 5"})
    if occ and item.level == "college" and not occ.startswith("6"):
        errors.append({"field": f"{prefix}achievement.occupation_code", "message": "college (cao đẳng) occupation codes begin with 6"})
    return errors
