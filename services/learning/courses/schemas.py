"""API shapes of e-courses. No read shape carries a question's answer key: it stays on the server."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Audience = Literal["students", "teachers", "both"]
ReleaseRule = Literal["in_order", "all_open"]
LessonKind = Literal["learning_object", "package", "text"]
QuestionKind = Literal["single", "multiple", "true_false", "matching", "numeric"]
Sex = Literal["male", "female"]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Text = Annotated[str, StringConstraints(max_length=100_000)]


class SkillAreaRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    name_en: str


class CourseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    description: Annotated[str, StringConstraints(max_length=20_000)] = ""
    skill_area: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    audience: Audience = "students"
    #: the owning institution; omit for your own (teachers at one school), or set ``national`` for a national course
    institution_code: Annotated[str, StringConstraints(min_length=1, max_length=20)] | None = None
    national: bool = False
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")] = "vi"
    estimated_hours: float = Field(default=0.0, ge=0, le=10_000)
    release_rule: ReleaseRule = "in_order"
    self_enrolment: bool = True


class CourseUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: Annotated[str, StringConstraints(max_length=20_000)] | None = None
    skill_area: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None
    audience: Audience | None = None
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")] | None = None
    estimated_hours: float | None = Field(default=None, ge=0, le=10_000)
    release_rule: ReleaseRule | None = None
    self_enrolment: bool | None = None


class CourseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    institution_code: str | None
    title: str
    description: str
    skill_area: str
    audience: str
    language: str
    estimated_hours: float
    version: int
    status: str
    release_rule: str
    self_enrolment: bool
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None


class ModuleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title


class LessonCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    kind: LessonKind
    learning_object_id: uuid.UUID | None = None
    learning_object_version: int | None = Field(default=None, ge=1)
    body: Text | None = None
    required: bool = True
    estimated_minutes: int = Field(default=0, ge=0, le=100_000)


class LessonRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    module_id: uuid.UUID
    position: int
    title: str
    kind: str
    learning_object_id: uuid.UUID | None
    learning_object_version: int | None
    body: str | None
    required: bool
    estimated_minutes: int
    #: the xAPI activity id statements about this lesson use
    activity_id: str


class ModuleRead(BaseModel):
    id: uuid.UUID
    position: int
    title: str
    lessons: list[LessonRead] = []


class ChoiceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    correct: bool = False


class PairIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    left: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    right: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class QuestionCreate(BaseModel):
    """single / multiple: ``choices`` marked ``correct``; true_false: ``answer`` true or false; matching: ``pairs``
    (left matched to right); numeric: ``answer`` and ``tolerance``."""

    model_config = ConfigDict(extra="forbid")

    kind: QuestionKind
    prompt: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]
    pool: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)] = "default"
    points: int = Field(default=1, ge=1, le=100)
    choices: list[ChoiceIn] | None = Field(default=None, max_length=20)
    pairs: list[PairIn] | None = Field(default=None, max_length=20)
    answer: bool | float | None = None
    tolerance: float = Field(default=0.0, ge=0)


class OptionRead(BaseModel):
    id: str
    text: str


class QuestionRead(BaseModel):
    """A question as anyone may see it: no key."""

    id: uuid.UUID
    kind: str
    prompt: str
    pool: str
    points: int
    choices: list[OptionRead] | None = None
    left: list[OptionRead] | None = None
    right: list[OptionRead] | None = None


class PoolDraw(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pool: Annotated[str, StringConstraints(min_length=1, max_length=50)]
    count: int = Field(ge=1, le=200)


class QuizCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    question_ids: list[uuid.UUID] = Field(default_factory=list, max_length=200)
    pools: list[PoolDraw] = Field(default_factory=list, max_length=20)
    shuffle: bool = True
    max_attempts: int | None = Field(default=None, ge=1, le=100)
    time_limit_seconds: int | None = Field(default=None, ge=10, le=24 * 3600)
    pass_mark: float = Field(default=50.0, ge=0, le=100)
    required: bool = True


class QuizRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    question_count: int
    shuffle: bool
    max_attempts: int | None
    time_limit_seconds: int | None
    pass_mark: float
    required: bool


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    capacity: int | None = Field(default=None, ge=1, le=1_000_000)


class RunRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    starts_at: datetime | None
    ends_at: datetime | None
    capacity: int | None


class CourseDetail(CourseRead):
    modules: list[ModuleRead] = []
    quizzes: list[QuizRead] = []
    runs: list[RunRead] = []


class SelfEnrol(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: uuid.UUID | None = None


class LearnerIn(BaseModel):
    """A learner to enrol: the person (from identity) or the account subject (``account:<id>``), or both."""

    model_config = ConfigDict(extra="forbid")

    person_id: uuid.UUID | None = None
    account: Annotated[str, StringConstraints(pattern=r"^account:[0-9a-fA-F-]{36}$")] | None = None
    full_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    sex: Sex | None = None


class EnrolmentBatch(BaseModel):
    """A school enrols a class (``role=student``); an officer enrols teachers (``role=teacher``)."""

    model_config = ConfigDict(extra="forbid")

    institution_code: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    role: Literal["student", "teacher"] = "student"
    run_id: uuid.UUID | None = None
    learners: list[LearnerIn] = Field(min_length=1, max_length=5000)


class EnrolmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    course_id: uuid.UUID
    run_id: uuid.UUID | None
    full_name: str | None
    role: str
    institution_code: str | None
    #: the registry's type of the institution at enrolment (None for enrolments made before it was kept)
    institution_type: str | None = None
    method: str
    #: enrolled | completed | withdrawn
    status: str
    enrolled_at: datetime
    last_activity_at: datetime | None
    completed_at: datetime | None
    certified_at: datetime | None
    #: set while withdrawn: when, by whom, why (the whole history is in ``history`` of the enrolment)
    withdrawn_at: datetime | None = None
    withdrawn_by: str | None = None
    withdrawal_reason: str | None = None


class BatchResult(BaseModel):
    created: int
    #: learners already enrolled (kept as they are)
    existing: int
    #: learners whose withdrawn enrolment this batch reopened (the same enrolment, its history kept)
    reopened: int = 0
    items: list[EnrolmentRead]


class WithdrawIn(BaseModel):
    """Rút khỏi khoá học: why the enrolment is withdrawn (kept in its history)."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class EnrolmentChangeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    #: withdrawn | reopened
    action: str
    actor: str
    reason: str | None
    at: datetime


class ProgressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: Literal["opened", "completed"]
    time_spent_seconds: int = Field(default=0, ge=0, le=24 * 3600)


class LessonProgressRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    lesson_id: uuid.UUID
    opened_at: datetime | None
    completed_at: datetime | None
    time_spent_seconds: int


class QuizStanding(BaseModel):
    quiz_id: uuid.UUID
    attempts_used: int
    attempts_left: int | None
    best_score: float | None
    passed: bool


class CompletionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    completed_at: datetime
    final_score: float | None
    course_version: int


class EnrolmentProgress(EnrolmentRead):
    lessons: list[LessonProgressRead] = []
    quizzes: list[QuizStanding] = []
    completion: CompletionRead | None = None
    #: withdrawals and reopenings, oldest first
    history: list[EnrolmentChangeRead] = []


class AttemptQuestion(BaseModel):
    id: uuid.UUID
    kind: str
    prompt: str
    points: int
    choices: list[OptionRead] | None = None
    left: list[OptionRead] | None = None
    right: list[OptionRead] | None = None


class QuestionResult(BaseModel):
    question_id: uuid.UUID
    correct: bool
    points_awarded: int


class AttemptRead(BaseModel):
    id: uuid.UUID
    quiz_id: uuid.UUID
    enrolment_id: uuid.UUID
    number: int
    status: str
    started_at: datetime
    deadline_at: datetime | None
    submitted_at: datetime | None
    questions: list[AttemptQuestion]
    score: float | None = None
    passed: bool | None = None
    results: list[QuestionResult] | None = None


class AttemptSubmit(BaseModel):
    """``answers`` by question id: a choice id (single), a list of choice ids (multiple), true/false, ``{left id:
    right id}`` (matching), a number (numeric). Unanswered questions score nothing."""

    model_config = ConfigDict(extra="forbid")

    answers: dict[uuid.UUID, Any] = Field(default_factory=dict, max_length=500)


class ScormValuesIn(BaseModel):
    """CMI data model elements as a SCORM runtime commits them (``{"cmi.core.lesson_status": "completed"}``)."""

    model_config = ConfigDict(extra="forbid")

    attempt: int = Field(default=1, ge=1, le=1000)
    values: dict[Annotated[str, StringConstraints(pattern=r"^(cmi|adl)\.[A-Za-z0-9_.]+$", max_length=255)],
                 Annotated[str, StringConstraints(max_length=64_000)]] = Field(min_length=1, max_length=500)


class ScormValuesRead(BaseModel):
    attempt: int
    values: dict[str, str]


class LaunchRead(BaseModel):
    """What content needs to report by xAPI (cmi5 / TinCan launch parameters)."""

    #: where the lesson's content is: the library's package launch (SCORM / cmi5 player) or version, pinned
    content_url: str | None
    endpoint: str
    auth: str
    actor: dict[str, Any]
    registration: uuid.UUID
    activity_id: str
    expires_at: datetime
    #: cmi5 lessons: the one-time fetch URL (POST it once for the ``auth-token``), and the AU's URL with the five cmi5
    #: launch parameters (endpoint, fetch, actor, registration, activityId) to open in a window
    fetch_url: str | None = None
    cmi5_launch_url: str | None = None
