"""API shapes of the library: metadata in, objects and versions out."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StringConstraints, model_validator

ObjectType = Literal["video", "document", "slides", "image", "audio", "scorm", "cmi5", "h5p", "link", "other"]
Level = Literal["so_cap", "trung_cap", "cao_dang", "short_course", "course_certificate"]
Audience = Literal["students", "teachers"]
Visibility = Literal["public", "platform", "institution"]
LicenceCode = Literal[
    "CC0-1.0",
    "CC-BY-4.0",
    "CC-BY-SA-4.0",
    "CC-BY-NC-4.0",
    "CC-BY-NC-SA-4.0",
    "CC-BY-ND-4.0",
    "CC-BY-NC-ND-4.0",
    "all-rights-reserved",
    "marketplace",
]
Word = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
OccupationCode = Annotated[str, StringConstraints(pattern=r"^\d{7}$")]


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: int = Field(ge=0, le=10**12, description="in the currency's minor-less unit (VND has none)")
    currency: Literal["VND"] = "VND"


class Licence(BaseModel):
    """Creative Commons variants, all rights reserved, or marketplace (price and terms of use required)."""

    model_config = ConfigDict(extra="forbid")

    code: LicenceCode
    price: Price | None = None
    terms: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20_000)] | None = None
    attribution: Annotated[str, StringConstraints(max_length=500)] | None = None

    @model_validator(mode="after")
    def _marketplace(self) -> Licence:
        if self.code == "marketplace":
            if self.price is None or not self.terms:
                raise ValueError("a marketplace licence needs a price and terms")
        elif self.price is not None:
            raise ValueError("only a marketplace licence has a price")
        return self


class Metadata(BaseModel):
    """Everything a version says about the material (Vietnamese text welcome everywhere)."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    description: Annotated[str, StringConstraints(max_length=10_000)] = ""
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")] = "vi"
    type: ObjectType
    subjects: list[Word] = Field(default_factory=list, max_length=20)
    keywords: list[Word] = Field(default_factory=list, max_length=30)
    occupation_codes: list[OccupationCode] = Field(default_factory=list, max_length=50)
    levels: list[Level] = Field(default_factory=list, max_length=5)
    audience: list[Audience] = Field(default_factory=lambda: list[Audience](["students"]), min_length=1, max_length=2)
    duration_minutes: int | None = Field(default=None, ge=0, le=100_000)
    authors: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=20
    )
    licence: Licence = Field(default_factory=lambda: Licence(code="CC-BY-4.0"))
    visibility: Visibility = "institution"
    accessibility_notes: Annotated[str, StringConstraints(max_length=2000)] | None = None
    #: for type ``link``: where the material lives
    url: HttpUrl | None = None

    @model_validator(mode="after")
    def _link(self) -> Metadata:
        if self.type == "link" and self.url is None:
            raise ValueError("a link needs a url")
        if self.type != "link" and self.url is not None:
            raise ValueError("only a link has a url; upload a file instead")
        return self


class LearningObjectCreate(Metadata):
    """A new learning object (version 1, draft). ``institution_code`` defaults to the caller's one institution."""

    institution_code: Annotated[str, StringConstraints(max_length=20)] | None = None


class LearningObjectUpdate(BaseModel):
    """Fields to change (a new version); unsent fields keep their value."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = None
    description: str | None = None
    language: str | None = None
    type: ObjectType | None = None
    subjects: list[str] | None = None
    keywords: list[str] | None = None
    occupation_codes: list[str] | None = None
    levels: list[Level] | None = None
    audience: list[Audience] | None = None
    duration_minutes: int | None = None
    authors: list[str] | None = None
    licence: Licence | None = None
    visibility: Visibility | None = None
    accessibility_notes: str | None = None
    url: str | None = None
    change_note: Annotated[str, StringConstraints(max_length=1000)] | None = None


class FileRead(BaseModel):
    sha256: str
    size: int
    content_type: str
    filename: str | None
    scan_status: str


class PackageSummary(BaseModel):
    kind: str
    launch_path: str
    file_count: int


class VersionRead(BaseModel):
    number: int
    status: str
    metadata: dict[str, Any]
    file: FileRead | None = None
    package: PackageSummary | None = None
    change_note: str | None
    created_by: str
    created_at: datetime
    published_at: datetime | None


class LearningObjectRead(BaseModel):
    id: uuid.UUID
    institution_code: str
    owner: str
    status: str
    latest_version: int
    published_version: int | None
    #: the version shown here (``?version=`` or, by default, the latest for the author's institution and the
    #: published one for everyone else)
    version: VersionRead
    view_count: int
    download_count: int
    created_at: datetime
    updated_at: datetime


class ModerationEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    action: str
    actor: str
    reason: str | None
    at: datetime


class DownloadLink(BaseModel):
    url: str
    expires_in: int
    sha256: str
    size: int
    content_type: str
    filename: str | None
    version: int


class ReviewAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None
    #: the version acted on; defaults to the latest
    version: int | None = None


class ReviewerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


class ReviewerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    subject: str
    note: str | None
    designated_by: str
    created_at: datetime


class AcquisitionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accept_terms: bool
    #: the price the acquirer saw; refused if the price has changed since
    expected_price: Price | None = None
    #: acquire on behalf of an institution (needs a staff role there)
    institution_code: str | None = None


class AcquisitionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    object_id: uuid.UUID
    version: int
    acquirer_sub: str
    institution_code: str | None
    price_amount: int
    currency: str
    terms: str
    terms_sha256: str
    acquired_at: datetime


class UsageRead(BaseModel):
    views: int
    downloads: int
    launches: int
    by_institution: list[dict[str, Any]]
