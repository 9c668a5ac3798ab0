"""API shapes of item banks and items. A learner's view of an item (:class:`ItemShown`) never carries its key."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.learning.courses.schemas import ChoiceIn, PairIn

ItemKind = Literal["single", "multiple", "true_false", "matching", "numeric", "ordering", "cloze", "essay", "file_upload"]
#: the kinds the courses' quizzes already grade (services.learning.courses.grading)
QUIZ_KINDS = ("single", "multiple", "true_false", "matching", "numeric")
#: scored by a person
MANUAL_KINDS = ("essay", "file_upload")
Difficulty = Literal["easy", "medium", "hard"]
OccupationCode = Annotated[str, StringConstraints(pattern=r"^\d{7}$")]
ModuleCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._\-/]{1,50}$")]
InstitutionCode = Annotated[str, StringConstraints(min_length=1, max_length=20)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=50)]
Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
FileFamily = Literal["image", "video", "audio", "pdf", "document"]


class BankCreate(BaseModel):
    """A bank of one module: its occupation (7-digit national code) and module code; national (``national``: by
    national authors) or an institution's (default: yours)."""

    model_config = ConfigDict(extra="forbid")

    occupation_code: OccupationCode
    module_code: ModuleCode
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    institution_code: InstitutionCode | None = None
    national: bool = False


class BankRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    scope: str
    institution_code: str | None
    occupation_code: str
    module_code: str
    title: str
    created_at: datetime


class BlankIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: the answers accepted for this blank (compared without surrounding or repeated spaces, NFC)
    accepted: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]] = Field(min_length=1, max_length=10)
    case_sensitive: bool = False


class ItemCreate(BaseModel):
    """By kind: ``single`` / ``multiple`` — ``choices`` marked ``correct``; ``true_false`` — ``answer``;
    ``matching`` — ``pairs``; ``numeric`` — ``answer`` and ``tolerance``; ``ordering`` — ``sequence`` in the right
    order; ``cloze`` — a prompt with blanks ``{{1}}``, ``{{2}}``… and ``blanks`` (the accepted answers of each);
    ``essay`` and ``file_upload`` — scored by a person, with optional ``guidance`` for the marker (``file_upload``:
    the file kinds it takes, ``accept``)."""

    model_config = ConfigDict(extra="forbid")

    kind: ItemKind
    prompt: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]
    points: int = Field(default=1, ge=1, le=100)
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    difficulty: Difficulty = "medium"
    choices: list[ChoiceIn] | None = Field(default=None, max_length=20)
    pairs: list[PairIn] | None = Field(default=None, max_length=20)
    answer: bool | float | None = None
    tolerance: float = Field(default=0.0, ge=0, le=1e12)
    sequence: list[Line] | None = Field(default=None, max_length=20)
    blanks: list[BlankIn] | None = Field(default=None, max_length=20)
    guidance: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    max_words: int | None = Field(default=None, ge=1, le=10_000)
    accept: list[FileFamily] | None = Field(default=None, max_length=5)


class ItemUpdate(BaseModel):
    """What may change on an item in use: its tags and estimated difficulty. Content changes are a new item (retire
    the old one), so every response stays tied to the text it answered."""

    model_config = ConfigDict(extra="forbid")

    tags: list[Tag] | None = Field(default=None, max_length=20)
    difficulty: Difficulty | None = None


class RetireIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class OptionRead(BaseModel):
    id: str
    text: str


class StatisticsRead(BaseModel):
    """Classical test theory: ``p_value`` is the mean credit (0–1; the share answering right on a one-mark item),
    ``point_biserial`` the correlation of the item's credit with the attempt's total score (%); ``band`` the
    difficulty a blueprint sees (from the p-value once enough responses count, else the author's estimate)."""

    responses: int
    p_value: float | None
    point_biserial: float | None
    band: str
    computed_at: datetime | None = None


class ItemRead(BaseModel):
    """An item as its bank's managers see it, key included (``key``)."""

    id: uuid.UUID
    bank_id: uuid.UUID
    kind: str
    prompt: str
    points: int
    tags: list[str]
    difficulty: str
    status: str
    retired_at: datetime | None
    retire_reason: str | None
    choices: list[OptionRead] | None = None
    left: list[OptionRead] | None = None
    right: list[OptionRead] | None = None
    sequence: list[OptionRead] | None = None
    blanks: int | None = None
    max_words: int | None = None
    accept: list[str] | None = None
    key: dict[str, Any]
    statistics: StatisticsRead
    created_at: datetime


class ItemShown(BaseModel):
    """An item as a learner sees it in a form: options in the form's order, never the key."""

    id: uuid.UUID
    kind: str
    prompt: str
    points: int
    choices: list[OptionRead] | None = None
    left: list[OptionRead] | None = None
    right: list[OptionRead] | None = None
    sequence: list[OptionRead] | None = None
    blanks: int | None = None
    max_words: int | None = None
    accept: list[str] | None = None


class ItemStatisticsRow(BaseModel):
    item_id: uuid.UUID
    kind: str
    status: str
    tags: list[str]
    statistics: StatisticsRead
