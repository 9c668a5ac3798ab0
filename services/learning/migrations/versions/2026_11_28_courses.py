"""learning: soft-skills e-courses — skill areas (data), courses, modules, lessons, question bank, quizzes, runs,
enrolments, lesson progress, quiz attempts, completions, SCORM runtime values, xAPI statements and launches, pilot
institutions

Revision ID: learning_0004
Revises: learning_0003
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from services.common.db import JSONType, UTCDateTime
from services.common.migration_ops import entity_columns

revision = "learning_0004"
down_revision = "learning_0003"
branch_labels = None
depends_on = None

#: Decision 123/QĐ-LĐTBXH's soft-skill areas, and digital skills (Decision 2222): data, not code
SKILL_AREAS = [
    ("communication", "Kỹ năng giao tiếp", "Communication", 1),
    ("teamwork", "Kỹ năng làm việc nhóm", "Teamwork", 2),
    ("problem_solving", "Kỹ năng giải quyết vấn đề", "Problem solving", 3),
    ("critical_thinking", "Tư duy phản biện", "Critical thinking", 4),
    ("time_management", "Kỹ năng quản lý thời gian", "Time management", 5),
    ("career", "Kỹ năng tìm việc và phát triển nghề nghiệp", "Career and job-search skills", 6),
    ("digital", "Kỹ năng số", "Digital skills", 7),
]


def upgrade() -> None:
    skill_areas = op.create_table(
        "skill_areas",
        sa.Column("code", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
    )
    op.bulk_insert(skill_areas, [{"code": c, "name": n, "name_en": e, "position": p} for c, n, e, p in SKILL_AREAS])
    op.create_table(
        "courses",
        *entity_columns(),
        sa.Column("institution_code", sa.String(20), nullable=True),
        sa.Column("owner_sub", sa.String(200), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("title_folded", sa.String(300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("skill_area", sa.String(40), sa.ForeignKey("skill_areas.code"), nullable=False),
        sa.Column("audience", sa.String(10), nullable=False),
        sa.Column("language", sa.String(10), nullable=False),
        sa.Column("estimated_hours", sa.Double(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("release_rule", sa.String(20), nullable=False),
        sa.Column("self_enrolment", sa.Boolean(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_courses_institution_code", "courses", ["institution_code"])
    op.create_index("ix_courses_skill_area", "courses", ["skill_area"])
    op.create_index("ix_courses_listing", "courses", ["status", "created_at", "id"])
    op.create_table(
        "course_modules",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("course_id", sa.Uuid(), sa.ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("course_id", "position", name="uq_course_module_position"),
    )
    op.create_index("ix_course_modules_course_id", "course_modules", ["course_id"])
    op.create_table(
        "lessons",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("course_id", sa.Uuid(), sa.ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
        sa.Column("module_id", sa.Uuid(), sa.ForeignKey("course_modules.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("learning_object_id", sa.Uuid(), sa.ForeignKey("learning_objects.id"), nullable=True),
        sa.Column("learning_object_version", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("estimated_minutes", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("module_id", "position", name="uq_lesson_position"),
    )
    op.create_index("ix_lessons_course_id", "lessons", ["course_id"])
    op.create_table(
        "questions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("course_id", sa.Uuid(), sa.ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
        sa.Column("pool", sa.String(50), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("options", JSONType, nullable=False),
        sa.Column("answer", JSONType, nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_questions_course_pool", "questions", ["course_id", "pool"])
    op.create_table(
        "quizzes",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("course_id", sa.Uuid(), sa.ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("question_ids", JSONType, nullable=False),
        sa.Column("pools", JSONType, nullable=False),
        sa.Column("shuffle", sa.Boolean(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=True),
        sa.Column("time_limit_seconds", sa.Integer(), nullable=True),
        sa.Column("pass_mark", sa.Double(), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_quizzes_course_id", "quizzes", ["course_id"])
    op.create_table(
        "course_runs",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("course_id", sa.Uuid(), sa.ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=True),
        sa.Column("ends_at", UTCDateTime(), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_course_runs_course_id", "course_runs", ["course_id"])
    op.create_table(
        "course_enrolments",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("course_id", sa.Uuid(), sa.ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
        sa.Column("run_id", sa.Uuid(), sa.ForeignKey("course_runs.id"), nullable=True),
        sa.Column("learner_key", sa.String(200), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=True),
        sa.Column("account_sub", sa.String(200), nullable=True),
        sa.Column("full_name", sa.String(300), nullable=True),
        sa.Column("sex", sa.String(10), nullable=True),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("institution_code", sa.String(20), nullable=True),
        sa.Column("province_code", sa.String(10), nullable=True),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("enrolled_by", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("enrolled_at", UTCDateTime(), nullable=False),
        sa.Column("last_activity_at", UTCDateTime(), nullable=True),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("certified_at", UTCDateTime(), nullable=True),
        sa.Column("credential_id", sa.String(64), nullable=True),
        sa.UniqueConstraint("course_id", "learner_key", name="uq_course_enrolment_learner"),
    )
    op.create_index("ix_course_enrolments_run_id", "course_enrolments", ["run_id"])
    op.create_index("ix_course_enrolments_institution", "course_enrolments", ["institution_code", "course_id"])
    op.create_index("ix_course_enrolments_person", "course_enrolments", ["person_id"])
    op.create_index("ix_course_enrolments_account", "course_enrolments", ["account_sub"])
    op.create_index("ix_course_enrolments_province_code", "course_enrolments", ["province_code"])
    op.create_table(
        "lesson_progress",
        sa.Column("enrolment_id", sa.Uuid(), sa.ForeignKey("course_enrolments.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("lesson_id", sa.Uuid(), sa.ForeignKey("lessons.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("opened_at", UTCDateTime(), nullable=True),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("time_spent_seconds", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "quiz_attempts",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("quiz_id", sa.Uuid(), sa.ForeignKey("quizzes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("enrolment_id", sa.Uuid(), sa.ForeignKey("course_enrolments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("drawn", JSONType, nullable=False),
        sa.Column("answers", JSONType, nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("deadline_at", UTCDateTime(), nullable=True),
        sa.Column("submitted_at", UTCDateTime(), nullable=True),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.UniqueConstraint("quiz_id", "enrolment_id", "number", name="uq_quiz_attempt_number"),
    )
    op.create_index("ix_quiz_attempts_enrolment_id", "quiz_attempts", ["enrolment_id"])
    op.create_table(
        "course_completions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("enrolment_id", sa.Uuid(), sa.ForeignKey("course_enrolments.id", ondelete="CASCADE"), nullable=False, unique=True),
        sa.Column("course_id", sa.Uuid(), sa.ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
        sa.Column("course_version", sa.Integer(), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=False),
        sa.Column("final_score", sa.Double(), nullable=True),
        sa.Column("event_id", sa.Uuid(), nullable=True),
    )
    op.create_index("ix_course_completions_course_id", "course_completions", ["course_id"])
    op.create_table(
        "scorm_values",
        sa.Column("enrolment_id", sa.Uuid(), sa.ForeignKey("course_enrolments.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("lesson_id", sa.Uuid(), sa.ForeignKey("lessons.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("attempt", sa.Integer(), primary_key=True),
        sa.Column("element", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "xapi_statements",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("stored", UTCDateTime(), nullable=False),
        sa.Column("timestamp", UTCDateTime(), nullable=False),
        sa.Column("actor_key", sa.String(500), nullable=False),
        sa.Column("verb_id", sa.String(500), nullable=False),
        sa.Column("activity_id", sa.String(1000), nullable=True),
        sa.Column("registration", sa.Uuid(), nullable=True),
        sa.Column("voided", sa.Boolean(), nullable=False),
        sa.Column("voids", sa.Uuid(), nullable=True),
        sa.Column("authority_sub", sa.String(200), nullable=False),
        sa.Column("statement", JSONType, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
    )
    op.create_index("ix_xapi_statements_stored", "xapi_statements", ["stored", "id"])
    op.create_index("ix_xapi_statements_actor", "xapi_statements", ["actor_key", "stored"])
    op.create_index("ix_xapi_statements_activity", "xapi_statements", ["activity_id", "stored"])
    op.create_index("ix_xapi_statements_registration", "xapi_statements", ["registration", "stored"])
    op.create_index("ix_xapi_statements_verb", "xapi_statements", ["verb_id", "stored"])
    op.create_table(
        "xapi_launches",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("enrolment_id", sa.Uuid(), sa.ForeignKey("course_enrolments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("lesson_id", sa.Uuid(), sa.ForeignKey("lessons.id", ondelete="CASCADE"), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_xapi_launches_enrolment_id", "xapi_launches", ["enrolment_id"])
    op.create_table(
        "pilot_institutions",
        sa.Column("institution_code", sa.String(20), primary_key=True),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("designated_by", sa.String(200), nullable=False),
        sa.Column("designated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    for table in ("pilot_institutions", "xapi_launches", "xapi_statements", "scorm_values", "course_completions", "quiz_attempts",
                  "lesson_progress", "course_enrolments", "course_runs", "quizzes", "questions", "lessons",
                  "course_modules", "courses", "skill_areas"):
        op.drop_table(table)
