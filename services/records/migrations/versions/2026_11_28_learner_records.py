"""records: occupations, grading policies, programmes, learners, enrolments, grades with audit, sync jobs, change
feed, yearly reports

Revision ID: records_0002
Revises: records_0001
Create Date: 2026-11-28
"""

import uuid

import sqlalchemy as sa
from alembic import op

from services.common.db import JSONType, UTCDateTime, utcnow
from services.common.migration_ops import entity_columns
from services.records.grading.rules import DEFAULT_POLICY

revision = "records_0002"
down_revision = "records_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "occupations",
        sa.Column("code", sa.String(7), primary_key=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("level", sa.String(20), nullable=False),
    )
    policies = op.create_table(
        "grading_policies",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("code", sa.String(50), nullable=False, unique=True),
        sa.Column("rules", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.bulk_insert(policies, [{"id": uuid.uuid4(), "code": DEFAULT_POLICY.code, "rules": DEFAULT_POLICY.to_dict(), "created_at": utcnow()}])
    op.create_table(
        "institution_refs",
        sa.Column("code", sa.String(20), primary_key=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("province_code", sa.String(3), nullable=False),
        sa.Column("type", sa.String(30), nullable=False),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_institution_refs_province_code", "institution_refs", ["province_code"])
    op.create_table(
        "programmes",
        *entity_columns(),
        sa.Column("institution_code", sa.String(20), nullable=False),
        sa.Column("code", sa.String(50), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("occupation_code", sa.String(7), nullable=True),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("grading_policy_code", sa.String(50), nullable=False),
        sa.Column("weights", JSONType, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.UniqueConstraint("institution_code", "code", name="uq_programme_code"),
    )
    op.create_index("ix_programmes_institution_code", "programmes", ["institution_code"])
    op.create_table(
        "modules",
        *entity_columns(),
        sa.Column("programme_id", sa.Uuid(), sa.ForeignKey("programmes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("code", sa.String(50), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("weights", JSONType, nullable=True),
        sa.Column("is_condition", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("programme_id", "code", name="uq_module_code"),
    )
    op.create_index("ix_modules_programme_id", "modules", ["programme_id"])
    op.create_table(
        "terms",
        *entity_columns(),
        sa.Column("institution_code", sa.String(20), nullable=False),
        sa.Column("code", sa.String(50), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.UniqueConstraint("institution_code", "code", name="uq_term_code"),
    )
    op.create_index("ix_terms_institution_code", "terms", ["institution_code"])
    op.create_table(
        "cohorts",
        *entity_columns(),
        sa.Column("institution_code", sa.String(20), nullable=False),
        sa.Column("programme_id", sa.Uuid(), sa.ForeignKey("programmes.id"), nullable=False),
        sa.Column("code", sa.String(50), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("start_year", sa.Integer(), nullable=False),
        sa.Column("graduation_decision_number", sa.String(100), nullable=True),
        sa.Column("graduation_decision_date", sa.Date(), nullable=True),
        sa.UniqueConstraint("institution_code", "code", name="uq_cohort_code"),
    )
    op.create_index("ix_cohorts_institution_code", "cohorts", ["institution_code"])
    op.create_index("ix_cohorts_programme_id", "cohorts", ["programme_id"])
    op.create_table(
        "learners",
        *entity_columns(),
        sa.Column("institution_code", sa.String(20), nullable=False),
        sa.Column("id_number", sa.String(12), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("learner_code", sa.String(50), nullable=True),
        sa.Column("full_name", sa.String(300), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("sex", sa.String(10), nullable=True),
        sa.Column("birth_place", sa.String(300), nullable=True),
        sa.Column("ethnicity", sa.String(50), nullable=True),
        sa.Column("ethnic_minority", sa.Boolean(), nullable=False),
        sa.Column("disability", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("institution_code", "id_number", name="uq_learner_number"),
    )
    op.create_index("ix_learners_institution_code", "learners", ["institution_code"])
    op.create_index("ix_learners_person_id", "learners", ["person_id"])
    op.create_table(
        "enrolments",
        *entity_columns(),
        sa.Column("institution_code", sa.String(20), nullable=False),
        sa.Column("learner_id", sa.Uuid(), sa.ForeignKey("learners.id"), nullable=False),
        sa.Column("programme_id", sa.Uuid(), sa.ForeignKey("programmes.id"), nullable=False),
        sa.Column("cohort_id", sa.Uuid(), sa.ForeignKey("cohorts.id"), nullable=True),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("enrolled_on", sa.Date(), nullable=True),
        sa.Column("graduated_on", sa.Date(), nullable=True),
        sa.Column("graduation_year", sa.Integer(), nullable=True),
        sa.Column("decision_number", sa.String(100), nullable=True),
        sa.Column("decision_date", sa.Date(), nullable=True),
        sa.Column("gpa", sa.String(12), nullable=True),
        sa.Column("classification", sa.String(30), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.UniqueConstraint("learner_id", "programme_id", name="uq_enrolment"),
    )
    for col in ("institution_code", "learner_id", "programme_id", "cohort_id"):
        op.create_index(f"ix_enrolments_{col}", "enrolments", [col])
    op.create_table(
        "enrolment_status_changes",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("enrolment_id", sa.Uuid(), sa.ForeignKey("enrolments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("previous_status", sa.String(20), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_enrolment_status_changes_enrolment_id", "enrolment_status_changes", ["enrolment_id"])
    op.create_table(
        "grades",
        *entity_columns(),
        sa.Column("institution_code", sa.String(20), nullable=False),
        sa.Column("enrolment_id", sa.Uuid(), sa.ForeignKey("enrolments.id"), nullable=False),
        sa.Column("module_id", sa.Uuid(), sa.ForeignKey("modules.id"), nullable=False),
        sa.Column("term_id", sa.Uuid(), sa.ForeignKey("terms.id"), nullable=False),
        sa.Column("components", JSONType, nullable=False),
        sa.Column("score", sa.String(12), nullable=False),
        sa.Column("letter", sa.String(2), nullable=False),
        sa.Column("points", sa.String(12), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.UniqueConstraint("enrolment_id", "module_id", "term_id", name="uq_grade_sitting"),
    )
    for col in ("institution_code", "enrolment_id", "module_id", "term_id"):
        op.create_index(f"ix_grades_{col}", "grades", [col])
    op.create_table(
        "grade_audit",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("grade_id", sa.Uuid(), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("source", sa.String(50), nullable=False),
        sa.Column("sync_job_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("old", JSONType, nullable=True),
        sa.Column("new", JSONType, nullable=True),
    )
    op.create_index("ix_grade_audit_grade_id", "grade_audit", ["grade_id"])
    counter = op.create_table(
        "change_counter",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(counter, [{"id": 1, "value": 0}])
    op.create_table(
        "changes",
        sa.Column("version", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("institution_code", sa.String(20), nullable=False),
        sa.Column("entity", sa.String(20), nullable=False),
        sa.Column("operation", sa.String(20), nullable=False),
        sa.Column("key", JSONType, nullable=False),
        sa.Column("old_key", JSONType, nullable=True),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_changes_institution_code", "changes", ["institution_code"])
    op.create_table(
        "sync_jobs",
        *entity_columns(),
        sa.Column("institution_code", sa.String(20), nullable=False),
        sa.Column("format", sa.String(20), nullable=False),
        sa.Column("entity", sa.String(20), nullable=True),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("processing", sa.String(10), nullable=True),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("object_key", sa.String(500), nullable=False),
        sa.Column("upload_bytes", sa.Integer(), nullable=False),
        sa.Column("rows_total", sa.Integer(), nullable=True),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("applied_through", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("locked_by", sa.String(100), nullable=True),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_sync_jobs_institution_code", "sync_jobs", ["institution_code"])
    op.create_index("ix_sync_jobs_due", "sync_jobs", ["status", "locked_until"])
    op.create_table(
        "sync_job_errors",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("job_id", sa.Uuid(), sa.ForeignKey("sync_jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(50), nullable=True),
        sa.Column("field", sa.String(100), nullable=False),
        sa.Column("message", sa.String(1000), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_sync_job_errors_job_row", "sync_job_errors", ["job_id", "row"])
    op.create_table(
        "yearly_reports",
        *entity_columns(),
        sa.Column("scope", sa.String(20), nullable=False),
        sa.Column("scope_code", sa.String(20), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("figures", JSONType, nullable=False),
        sa.Column("notes", sa.String(4000), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("submitted_by", sa.String(200), nullable=True),
        sa.Column("submitted_at", UTCDateTime(), nullable=True),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.UniqueConstraint("scope", "scope_code", "year", name="uq_yearly_report"),
    )


def downgrade() -> None:
    op.drop_table("yearly_reports")
    op.drop_index("ix_sync_job_errors_job_row", table_name="sync_job_errors")
    op.drop_table("sync_job_errors")
    op.drop_index("ix_sync_jobs_due", table_name="sync_jobs")
    op.drop_index("ix_sync_jobs_institution_code", table_name="sync_jobs")
    op.drop_table("sync_jobs")
    op.drop_index("ix_changes_institution_code", table_name="changes")
    op.drop_table("changes")
    op.drop_table("change_counter")
    op.drop_index("ix_grade_audit_grade_id", table_name="grade_audit")
    op.drop_table("grade_audit")
    for col in ("institution_code", "enrolment_id", "module_id", "term_id"):
        op.drop_index(f"ix_grades_{col}", table_name="grades")
    op.drop_table("grades")
    op.drop_index("ix_enrolment_status_changes_enrolment_id", table_name="enrolment_status_changes")
    op.drop_table("enrolment_status_changes")
    for col in ("institution_code", "learner_id", "programme_id", "cohort_id"):
        op.drop_index(f"ix_enrolments_{col}", table_name="enrolments")
    op.drop_table("enrolments")
    op.drop_index("ix_learners_person_id", table_name="learners")
    op.drop_index("ix_learners_institution_code", table_name="learners")
    op.drop_table("learners")
    op.drop_index("ix_cohorts_programme_id", table_name="cohorts")
    op.drop_index("ix_cohorts_institution_code", table_name="cohorts")
    op.drop_table("cohorts")
    op.drop_index("ix_terms_institution_code", table_name="terms")
    op.drop_table("terms")
    op.drop_index("ix_modules_programme_id", table_name="modules")
    op.drop_table("modules")
    op.drop_index("ix_programmes_institution_code", table_name="programmes")
    op.drop_table("programmes")
    op.drop_index("ix_institution_refs_province_code", table_name="institution_refs")
    op.drop_table("institution_refs")
    op.drop_table("grading_policies")
    op.drop_table("occupations")
