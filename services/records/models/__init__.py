"""Records's ORM models; every table is imported here so Alembic sees it."""

from sqlalchemy.orm import DeclarativeBase

from services.common.db import TYPE_ANNOTATION_MAP


class Base(DeclarativeBase):
    type_annotation_map = TYPE_ANNOTATION_MAP


from services.records.models.admissions import AdmissionConsent, Application, Intake, SecondaryGraduate  # noqa: E402
from services.records.models.calendar import ReportKind  # noqa: E402
from services.records.models.catalogue import GradingPolicyRow, InstitutionRef, Occupation  # noqa: E402
from services.records.models.changes import Change, ChangeCounter  # noqa: E402
from services.records.models.enterprise import EnterpriseInvitation, OutcomeComment  # noqa: E402
from services.records.models.followup import SurveyInvitation, SurveyResponse, SurveyRound  # noqa: E402
from services.records.models.grade import Grade, GradeAudit  # noqa: E402
from services.records.models.key_change import LearnerKeyChange  # noqa: E402
from services.records.models.learner import Enrolment, EnrolmentStatusChange, Learner  # noqa: E402
from services.records.models.lmis import LmisRecipient  # noqa: E402
from services.records.models.oneroster_id import OneRosterId  # noqa: E402
from services.records.models.outcome import LearningOutcome  # noqa: E402
from services.records.models.oversight import (  # noqa: E402
    IndicatorSnapshot,
    IndicatorValue,
    OversightAudit,
    OversightCredential,
    OversightInstitution,
    OversightPull,
    OversightTarget,
)
from services.records.models.programme import Cohort, Module, Programme, Term  # noqa: E402
from services.records.models.recognition import (  # noqa: E402
    EquivalenceRule,
    RecognisedModule,
    RecognitionItem,
    RecognitionRequest,
    RplAssessment,
)
from services.records.models.report import YearlyReport  # noqa: E402
from services.records.models.sync_job import SyncJob, SyncJobError, SyncJobProgress  # noqa: E402

__all__ = [
    "AdmissionConsent", "Application", "Base", "Change", "ChangeCounter", "Cohort", "Enrolment", "EnrolmentStatusChange", "EnterpriseInvitation", "EquivalenceRule", "Grade", "GradeAudit",
    "GradingPolicyRow", "IndicatorSnapshot", "IndicatorValue", "Intake", "InstitutionRef", "Learner", "LearnerKeyChange", "LearningOutcome", "LmisRecipient", "Module", "Occupation", "OneRosterId", "OutcomeComment", "OversightAudit", "OversightCredential", "OversightInstitution", "OversightPull", "OversightTarget", "Programme", "RecognisedModule", "RecognitionItem", "RecognitionRequest", "ReportKind", "RplAssessment", "SecondaryGraduate", "SurveyInvitation", "SurveyResponse", "SurveyRound", "SyncJob", "SyncJobError", "SyncJobProgress",
    "Term", "YearlyReport",
]
