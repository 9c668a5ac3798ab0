"""Learning's ORM models; every table is imported here so Alembic sees it."""

from sqlalchemy.orm import DeclarativeBase

from services.common.db import TYPE_ANNOTATION_MAP


class Base(DeclarativeBase):
    type_annotation_map = TYPE_ANNOTATION_MAP


from services.learning.models.assessment import (  # noqa: E402
    AssessorInvitation,
    Exam,
    ExamAttempt,
    ExamCandidate,
    ExamResponse,
    ExamResponseEvent,
    Gradebook,
    GradebookLearner,
    Item,
    ItemBank,
    ItemTag,
    PracticalEvidence,
    PracticalScore,
    PracticalScoreAudit,
    PracticalTask,
)
from services.learning.models.blob import Blob, Package  # noqa: E402
from services.learning.models.course import Course, CourseModule, Lesson, Question, Quiz, SkillArea  # noqa: E402
from services.learning.models.enrolment import (  # noqa: E402
    CourseCompletion,
    CourseEnrolment,
    CourseRun,
    LessonProgress,
    PilotInstitution,
    QuizAttempt,
    ScormValue,
)
from services.learning.models.learning_object import LearningObject, LearningObjectTag, LearningObjectVersion  # noqa: E402
from services.learning.models.lti import (  # noqa: E402
    LtiGradeLink,
    LtiLoginState,
    LtiPlatform,
    LtiResourceLink,
    LtiScore,
    LtiSession,
    LtiToolKey,
    LtiUser,
)
from services.learning.models.moderation import ModerationEvent, Reviewer  # noqa: E402
from services.learning.models.upload import UploadPart, UploadSession  # noqa: E402
from services.learning.models.usage import Acquisition, UsageCounter  # noqa: E402
from services.learning.models.xapi import XapiLaunch, XapiState, XapiStatement  # noqa: E402

__all__ = [
    "Acquisition",
    "AssessorInvitation",
    "Base",
    "Blob",
    "Course",
    "CourseCompletion",
    "CourseEnrolment",
    "CourseModule",
    "CourseRun",
    "Exam",
    "ExamAttempt",
    "ExamCandidate",
    "ExamResponse",
    "ExamResponseEvent",
    "Gradebook",
    "GradebookLearner",
    "Item",
    "ItemBank",
    "ItemTag",
    "LearningObject",
    "LearningObjectTag",
    "LearningObjectVersion",
    "Lesson",
    "LtiGradeLink",
    "LtiLoginState",
    "LtiPlatform",
    "LtiResourceLink",
    "LtiScore",
    "LtiSession",
    "LtiToolKey",
    "LtiUser",
    "LessonProgress",
    "ModerationEvent",
    "Package",
    "PilotInstitution",
    "PracticalEvidence",
    "PracticalScore",
    "PracticalScoreAudit",
    "PracticalTask",
    "Question",
    "Quiz",
    "QuizAttempt",
    "Reviewer",
    "ScormValue",
    "SkillArea",
    "UploadPart",
    "UploadSession",
    "UsageCounter",
    "XapiLaunch",
    "XapiState",
    "XapiStatement",
]
