"""records: admissions — secondary-school graduates pushed by education departments, who received each person's
data (consents), programme intakes and applications

Revision ID: records_0011
Revises: records_0010
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

from services.common.db import JSONType, UTCDateTime
from services.common.migration_ops import entity_columns

revision = "records_0011"
down_revision = "records_0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admission_graduates",
        *entity_columns(),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("id_number", sa.String(12), nullable=False),
        sa.Column("full_name", sa.String(300), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column("sex", sa.String(10), nullable=True),
        sa.Column("school_code", sa.String(20), nullable=False),
        sa.Column("school_name", sa.String(300), nullable=False),
        sa.Column("province_code", sa.String(3), nullable=False),
        sa.Column("district", sa.String(100), nullable=False),
        sa.Column("graduation_year", sa.Integer(), nullable=False),
        sa.Column("results", JSONType, nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.UniqueConstraint("id_number", "school_code", "graduation_year", name="uq_admission_graduate"),
    )
    op.create_index("ix_admission_graduates_person_id", "admission_graduates", ["person_id"])
    op.create_index("ix_admission_graduates_province_code", "admission_graduates", ["province_code"])
    op.create_index("ix_admission_graduates_graduation_year", "admission_graduates", ["graduation_year"])
    op.create_table(
        "admission_consents",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("institution_code", sa.String(20), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("granted_at", UTCDateTime(), nullable=False),
        sa.Column("withdrawn_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("person_id", "institution_code", "purpose", name="uq_admission_consent"),
    )
    op.create_index("ix_admission_consents_person_id", "admission_consents", ["person_id"])
    op.create_index("ix_admission_consents_institution_code", "admission_consents", ["institution_code"])
    op.create_table(
        "admission_intakes",
        *entity_columns(),
        sa.Column("institution_code", sa.String(20), nullable=False),
        sa.Column("code", sa.String(50), nullable=False),
        sa.Column("programme_code", sa.String(50), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("opens_on", sa.Date(), nullable=False),
        sa.Column("closes_on", sa.Date(), nullable=False),
        sa.Column("criteria", JSONType, nullable=False),
        sa.UniqueConstraint("institution_code", "code", name="uq_admission_intake"),
    )
    op.create_index("ix_admission_intakes_institution_code", "admission_intakes", ["institution_code"])
    op.create_table(
        "admission_applications",
        *entity_columns(),
        sa.Column("intake_id", sa.Uuid(), sa.ForeignKey("admission_intakes.id"), nullable=False),
        sa.Column("institution_code", sa.String(20), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("graduate_id", sa.Uuid(), sa.ForeignKey("admission_graduates.id"), nullable=True),
        sa.Column("id_number", sa.String(12), nullable=False),
        sa.Column("full_name", sa.String(300), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("sex", sa.String(10), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("learner_id", sa.Uuid(), sa.ForeignKey("learners.id"), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.UniqueConstraint("intake_id", "person_id", name="uq_admission_application"),
    )
    op.create_index("ix_admission_applications_intake_id", "admission_applications", ["intake_id"])
    op.create_index("ix_admission_applications_institution_code", "admission_applications", ["institution_code"])
    op.create_index("ix_admission_applications_person_id", "admission_applications", ["person_id"])
    op.create_index("ix_admission_applications_status", "admission_applications", ["status"])


def downgrade() -> None:
    op.drop_table("admission_applications")
    op.drop_table("admission_intakes")
    op.drop_table("admission_consents")
    op.drop_table("admission_graduates")
