"""learning: online skills assessment — item banks per module (national or per institution) with tagged items of
nine kinds and their classical test theory statistics; exams (written: blueprint, window, duration, roster with
accommodations, a stored form per learner and attempt, every response with its time; practical: tasks with analytic
rubrics, enterprise assessors' invitations, scores with their audit trail, evidence files); gradebooks handed to
records

Revision ID: learning_assessment
Revises: learning_lti
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from services.common.db import JSONType, UTCDateTime
from services.common.migration_ops import entity_columns

revision = "learning_assessment"
down_revision = "learning_lti"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exams",
        sa.Column("institution_code", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("occupation_code", sa.String(length=10), nullable=True),
        sa.Column("module_code", sa.String(length=50), nullable=True),
        sa.Column("bank_ids", JSONType, nullable=False),
        sa.Column("blueprint", JSONType, nullable=False),
        sa.Column("pool", JSONType, nullable=True),
        sa.Column("opens_at", UTCDateTime(), nullable=False),
        sa.Column("closes_at", UTCDateTime(), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=True),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("score_policy", sa.String(length=10), nullable=False),
        sa.Column("pass_mark", sa.Float(), nullable=False),
        sa.Column("shuffle_options", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=True),
        sa.Column("results_released_at", UTCDateTime(), nullable=True),
        sa.Column("released_by", sa.String(length=200), nullable=True),
        sa.Column("form_secret", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        *entity_columns()
    )
    op.create_index("ix_exams_institution", "exams", ["institution_code", "created_at", "id"])
    op.create_table(
        "gradebooks",
        sa.Column("institution_code", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("programme_code", sa.String(length=50), nullable=False),
        sa.Column("module_code", sa.String(length=50), nullable=False),
        sa.Column("term_code", sa.String(length=50), nullable=False),
        sa.Column("components", JSONType, nullable=False),
        sa.Column("grading_policy", JSONType, nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        *entity_columns()
    )
    op.create_index("ix_gradebooks_institution", "gradebooks", ["institution_code", "created_at", "id"])
    op.create_table(
        "item_banks",
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("institution_code", sa.String(length=20), nullable=True),
        sa.Column("occupation_code", sa.String(length=10), nullable=False),
        sa.Column("module_code", sa.String(length=50), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        *entity_columns(),
        sa.UniqueConstraint("scope", "occupation_code", "module_code", name="uq_item_bank_module")
    )
    op.create_index("ix_item_banks_institution_code", "item_banks", ["institution_code"])
    op.create_table(
        "assessment_items",
        sa.Column("bank_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("options", JSONType, nullable=False),
        sa.Column("answer", JSONType, nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("tags", JSONType, nullable=False),
        sa.Column("declared_difficulty", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("retired_at", UTCDateTime(), nullable=True),
        sa.Column("retired_by", sa.String(length=200), nullable=True),
        sa.Column("retire_reason", sa.String(length=1000), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("stat_responses", sa.Integer(), nullable=False),
        sa.Column("stat_p_value", sa.Float(), nullable=True),
        sa.Column("stat_point_biserial", sa.Float(), nullable=True),
        sa.Column("stat_computed_at", UTCDateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["bank_id"], ["item_banks.id"])
    )
    op.create_index("ix_assessment_items_bank", "assessment_items", ["bank_id", "status", "created_at"])
    op.create_table(
        "assessor_invitations",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("exam_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("organisation", sa.String(length=300), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("invited_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("account_sub", sa.String(length=200), nullable=True),
        sa.Column("accepted_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["exam_id"], ["exams.id"]),
        sa.UniqueConstraint("code_hash")
    )
    op.create_index("ix_assessor_invitations_account", "assessor_invitations", ["account_sub"])
    op.create_index("ix_assessor_invitations_exam", "assessor_invitations", ["exam_id"])
    op.create_table(
        "exam_candidates",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("exam_id", sa.Uuid(), nullable=False),
        sa.Column("learner_key", sa.String(length=200), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=True),
        sa.Column("account_sub", sa.String(length=200), nullable=True),
        sa.Column("full_name", sa.String(length=300), nullable=False),
        sa.Column("extra_minutes", sa.Integer(), nullable=False),
        sa.Column("accommodation_note", sa.String(length=1000), nullable=True),
        sa.Column("added_by", sa.String(length=200), nullable=False),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["exam_id"], ["exams.id"]),
        sa.UniqueConstraint("exam_id", "learner_key", name="uq_exam_candidate")
    )
    op.create_index("ix_exam_candidates_account", "exam_candidates", ["account_sub"])
    op.create_index("ix_exam_candidates_person", "exam_candidates", ["person_id"])
    op.create_table(
        "gradebook_learners",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("gradebook_id", sa.Uuid(), nullable=False),
        sa.Column("learner_key", sa.String(length=200), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=True),
        sa.Column("account_sub", sa.String(length=200), nullable=True),
        sa.Column("full_name", sa.String(length=300), nullable=False),
        sa.Column("entered", JSONType, nullable=False),
        sa.Column("send_status", sa.String(length=10), nullable=False),
        sa.Column("sent_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("send_error", sa.Text(), nullable=True),
        sa.Column("records_grade_id", sa.String(length=64), nullable=True),
        sa.Column("records_score", sa.String(length=10), nullable=True),
        sa.Column("records_letter", sa.String(length=2), nullable=True),
        sa.Column("records_passed", sa.Boolean(), nullable=True),
        sa.Column("records_version", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["gradebook_id"], ["gradebooks.id"]),
        sa.UniqueConstraint("gradebook_id", "learner_key", name="uq_gradebook_learner")
    )
    op.create_index("ix_gradebook_learners_gradebook_id", "gradebook_learners", ["gradebook_id"])
    op.create_table(
        "practical_tasks",
        sa.Column("exam_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("rubric", JSONType, nullable=False),
        sa.Column("max_points", sa.Float(), nullable=False),
        sa.Column("pass_mark", sa.Float(), nullable=False),
        sa.Column("assessors_required", sa.Integer(), nullable=False),
        sa.Column("moderation_threshold", sa.Float(), nullable=False),
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["exam_id"], ["exams.id"])
    )
    op.create_index("ix_practical_tasks_exam_id", "practical_tasks", ["exam_id"])
    op.create_table(
        "assessment_item_tags",
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("tag", sa.String(length=50), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["assessment_items.id"]),
        sa.PrimaryKeyConstraint("item_id", "tag")
    )
    op.create_index("ix_assessment_item_tags_tag", "assessment_item_tags", ["tag"])
    op.create_table(
        "exam_attempts",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("exam_id", sa.Uuid(), nullable=False),
        sa.Column("candidate_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("form", JSONType, nullable=False),
        sa.Column("form_seed", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("deadline_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("points", sa.Float(), nullable=True),
        sa.Column("max_points", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("graded_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["candidate_id"], ["exam_candidates.id"]),
        sa.ForeignKeyConstraint(["exam_id"], ["exams.id"]),
        sa.UniqueConstraint("candidate_id", "number", name="uq_exam_attempt_number")
    )
    op.create_index("ix_exam_attempts_exam", "exam_attempts", ["exam_id", "status"])
    op.create_table(
        "practical_evidence",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("candidate_id", sa.Uuid(), nullable=False),
        sa.Column("blob_id", sa.Uuid(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=True),
        sa.Column("content_type", sa.String(length=200), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("uploaded_by", sa.String(length=200), nullable=False),
        sa.Column("uploaded_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["blob_id"], ["blobs.id"]),
        sa.ForeignKeyConstraint(["candidate_id"], ["exam_candidates.id"]),
        sa.ForeignKeyConstraint(["task_id"], ["practical_tasks.id"])
    )
    op.create_index("ix_practical_evidence_task", "practical_evidence", ["task_id", "candidate_id", "uploaded_at"])
    op.create_table(
        "practical_scores",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("candidate_id", sa.Uuid(), nullable=False),
        sa.Column("assessor", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("levels", JSONType, nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["candidate_id"], ["exam_candidates.id"]),
        sa.ForeignKeyConstraint(["task_id"], ["practical_tasks.id"]),
        sa.UniqueConstraint("task_id", "candidate_id", "assessor", "role", name="uq_practical_score")
    )
    op.create_index("ix_practical_scores_candidate_id", "practical_scores", ["candidate_id"])
    op.create_table(
        "exam_response_events",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("attempt_id", sa.Uuid(), nullable=False),
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("answer", JSONType, nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["attempt_id"], ["exam_attempts.id"]),
        sa.ForeignKeyConstraint(["item_id"], ["assessment_items.id"])
    )
    op.create_index("ix_exam_response_events_attempt", "exam_response_events", ["attempt_id", "at"])
    op.create_table(
        "exam_responses",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("attempt_id", sa.Uuid(), nullable=False),
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("answer", JSONType, nullable=True),
        sa.Column("blob_id", sa.Uuid(), nullable=True),
        sa.Column("filename", sa.String(length=200), nullable=True),
        sa.Column("first_answered_at", UTCDateTime(), nullable=True),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        sa.Column("changes", sa.Integer(), nullable=False),
        sa.Column("credit", sa.Float(), nullable=True),
        sa.Column("points_awarded", sa.Float(), nullable=True),
        sa.Column("graded_by", sa.String(length=200), nullable=True),
        sa.Column("graded_at", UTCDateTime(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["attempt_id"], ["exam_attempts.id"]),
        sa.ForeignKeyConstraint(["blob_id"], ["blobs.id"]),
        sa.ForeignKeyConstraint(["item_id"], ["assessment_items.id"]),
        sa.UniqueConstraint("attempt_id", "item_id", name="uq_exam_response")
    )
    op.create_index("ix_exam_responses_item", "exam_responses", ["item_id"])
    op.create_table(
        "practical_score_audit",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("candidate_id", sa.Uuid(), nullable=False),
        sa.Column("score_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("old", JSONType, nullable=True),
        sa.Column("new", JSONType, nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["candidate_id"], ["exam_candidates.id"]),
        sa.ForeignKeyConstraint(["score_id"], ["practical_scores.id"]),
        sa.ForeignKeyConstraint(["task_id"], ["practical_tasks.id"])
    )
    op.create_index("ix_practical_score_audit_task", "practical_score_audit", ["task_id", "candidate_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_practical_score_audit_task", table_name="practical_score_audit")
    op.drop_table("practical_score_audit")
    op.drop_index("ix_exam_responses_item", table_name="exam_responses")
    op.drop_table("exam_responses")
    op.drop_index("ix_exam_response_events_attempt", table_name="exam_response_events")
    op.drop_table("exam_response_events")
    op.drop_index("ix_practical_scores_candidate_id", table_name="practical_scores")
    op.drop_table("practical_scores")
    op.drop_index("ix_practical_evidence_task", table_name="practical_evidence")
    op.drop_table("practical_evidence")
    op.drop_index("ix_exam_attempts_exam", table_name="exam_attempts")
    op.drop_table("exam_attempts")
    op.drop_index("ix_assessment_item_tags_tag", table_name="assessment_item_tags")
    op.drop_table("assessment_item_tags")
    op.drop_index("ix_practical_tasks_exam_id", table_name="practical_tasks")
    op.drop_table("practical_tasks")
    op.drop_index("ix_gradebook_learners_gradebook_id", table_name="gradebook_learners")
    op.drop_table("gradebook_learners")
    op.drop_index("ix_exam_candidates_account", table_name="exam_candidates")
    op.drop_index("ix_exam_candidates_person", table_name="exam_candidates")
    op.drop_table("exam_candidates")
    op.drop_index("ix_assessor_invitations_account", table_name="assessor_invitations")
    op.drop_index("ix_assessor_invitations_exam", table_name="assessor_invitations")
    op.drop_table("assessor_invitations")
    op.drop_index("ix_assessment_items_bank", table_name="assessment_items")
    op.drop_table("assessment_items")
    op.drop_index("ix_item_banks_institution_code", table_name="item_banks")
    op.drop_table("item_banks")
    op.drop_index("ix_gradebooks_institution", table_name="gradebooks")
    op.drop_table("gradebooks")
    op.drop_index("ix_exams_institution", table_name="exams")
    op.drop_table("exams")
