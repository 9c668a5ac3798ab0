"""records: credit transfer and recognition of prior learning — equivalence rules, recognition requests and their
items, RPL assessments, recognised modules

Revision ID: records_0015
Revises: records_0014
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op

from services.common.db import JSONType, UTCDateTime
from services.common.migration_ops import entity_columns

revision = "records_0015"
down_revision = "records_0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "equivalence_rules",
        *entity_columns(),
        sa.Column("institution_code", sa.String(20), nullable=False),
        sa.Column("programme_id", sa.Uuid(), sa.ForeignKey("programmes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("code", sa.String(50), nullable=False),
        sa.Column("module_code", sa.String(50), nullable=False),
        sa.Column("source_kind", sa.String(20), nullable=False),
        sa.Column("source_module_code", sa.String(50), nullable=True),
        sa.Column("source_institution_code", sa.String(20), nullable=True),
        sa.Column("source_occupation_code", sa.String(7), nullable=True),
        sa.Column("source_level", sa.String(20), nullable=True),
        sa.Column("min_credits", sa.Integer(), nullable=False),
        sa.Column("min_grade", sa.String(10), nullable=True),
        sa.Column("max_age_years", sa.Integer(), nullable=True),
        sa.Column("in_gpa", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("programme_id", "code", name="uq_equivalence_rule_code"),
    )
    op.create_index("ix_equivalence_rules_institution_code", "equivalence_rules", ["institution_code"])
    op.create_index("ix_equivalence_rules_programme_id", "equivalence_rules", ["programme_id"])
    op.create_table(
        "recognition_requests",
        *entity_columns(),
        sa.Column("institution_code", sa.String(20), nullable=False),
        sa.Column("enrolment_id", sa.Uuid(), sa.ForeignKey("enrolments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.UniqueConstraint("enrolment_id", name="uq_recognition_request_enrolment"),
    )
    op.create_index("ix_recognition_requests_institution_code", "recognition_requests", ["institution_code"])
    op.create_index("ix_recognition_requests_person_id", "recognition_requests", ["person_id"])
    op.create_table(
        "recognition_items",
        *entity_columns(),
        sa.Column("request_id", sa.Uuid(), sa.ForeignKey("recognition_requests.id", ondelete="CASCADE"), nullable=False),
        sa.Column("module_code", sa.String(50), nullable=False),
        sa.Column("rule_id", sa.Uuid(), sa.ForeignKey("equivalence_rules.id", ondelete="SET NULL"), nullable=True),
        sa.Column("source_kind", sa.String(20), nullable=False),
        sa.Column("source_key", sa.String(200), nullable=False),
        sa.Column("source", JSONType, nullable=False),
        sa.Column("checks", JSONType, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=True),
        sa.Column("score", sa.String(10), nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("request_id", "module_code", "source_key", name="uq_recognition_item"),
    )
    op.create_index("ix_recognition_items_request_id", "recognition_items", ["request_id"])
    op.create_table(
        "rpl_assessments",
        *entity_columns(),
        sa.Column("institution_code", sa.String(20), nullable=False),
        sa.Column("enrolment_id", sa.Uuid(), sa.ForeignKey("enrolments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("module_code", sa.String(50), nullable=False),
        sa.Column("assessor", sa.String(200), nullable=False),
        sa.Column("panel", JSONType, nullable=False),
        sa.Column("experience", sa.String(4000), nullable=False),
        sa.Column("evidence", JSONType, nullable=False),
        sa.Column("decision", sa.String(20), nullable=True),
        sa.Column("score", sa.String(10), nullable=True),
        sa.Column("reason", sa.String(1000), nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("enrolment_id", "module_code", name="uq_rpl_assessment"),
    )
    op.create_index("ix_rpl_assessments_institution_code", "rpl_assessments", ["institution_code"])
    op.create_index("ix_rpl_assessments_person_id", "rpl_assessments", ["person_id"])
    op.create_table(
        "recognised_modules",
        sa.Column("enrolment_id", sa.Uuid(), sa.ForeignKey("enrolments.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("module_code", sa.String(50), primary_key=True),
        sa.Column("source_kind", sa.String(20), nullable=False),
        sa.Column("source_label", sa.String(500), nullable=False),
        sa.Column("score", sa.String(10), nullable=True),
        sa.Column("in_gpa", sa.Boolean(), nullable=False),
        sa.Column("item_id", sa.Uuid(), sa.ForeignKey("recognition_items.id", ondelete="SET NULL"), nullable=True),
        sa.Column("assessment_id", sa.Uuid(), sa.ForeignKey("rpl_assessments.id", ondelete="SET NULL"), nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=False),
        sa.Column("recognised_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("recognised_modules")
    op.drop_index("ix_rpl_assessments_person_id", table_name="rpl_assessments")
    op.drop_index("ix_rpl_assessments_institution_code", table_name="rpl_assessments")
    op.drop_table("rpl_assessments")
    op.drop_index("ix_recognition_items_request_id", table_name="recognition_items")
    op.drop_table("recognition_items")
    op.drop_index("ix_recognition_requests_person_id", table_name="recognition_requests")
    op.drop_index("ix_recognition_requests_institution_code", table_name="recognition_requests")
    op.drop_table("recognition_requests")
    op.drop_index("ix_equivalence_rules_programme_id", table_name="equivalence_rules")
    op.drop_index("ix_equivalence_rules_institution_code", table_name="equivalence_rules")
    op.drop_table("equivalence_rules")
