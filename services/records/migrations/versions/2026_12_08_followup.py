"""records: graduate follow-up — survey rounds (6 and 12 months after graduation), invitations, responses with the
standard employment indicators

Revision ID: records_0012
Revises: records_0011
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

from services.common.db import JSONType, UTCDateTime
from services.common.migration_ops import entity_columns

revision = "records_0012"
down_revision = "records_0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "followup_rounds",
        *entity_columns(),
        sa.Column("institution_code", sa.String(20), nullable=False),
        sa.Column("graduation_year", sa.Integer(), nullable=False),
        sa.Column("months_after", sa.Integer(), nullable=False),
        sa.Column("opens_on", sa.Date(), nullable=False),
        sa.Column("closes_on", sa.Date(), nullable=False),
        sa.Column("questions", JSONType, nullable=False),
        sa.UniqueConstraint("institution_code", "graduation_year", "months_after", name="uq_followup_round"),
    )
    op.create_index("ix_followup_rounds_institution_code", "followup_rounds", ["institution_code"])
    op.create_table(
        "followup_invitations",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("round_id", sa.Uuid(), sa.ForeignKey("followup_rounds.id", ondelete="CASCADE"), nullable=False),
        sa.Column("enrolment_id", sa.Uuid(), sa.ForeignKey("enrolments.id"), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("responded_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("round_id", "enrolment_id", name="uq_followup_invitation"),
    )
    op.create_index("ix_followup_invitations_round_id", "followup_invitations", ["round_id"])
    op.create_index("ix_followup_invitations_person_id", "followup_invitations", ["person_id"])
    op.create_table(
        "followup_responses",
        sa.Column("invitation_id", sa.Uuid(), sa.ForeignKey("followup_invitations.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("round_id", sa.Uuid(), sa.ForeignKey("followup_rounds.id", ondelete="CASCADE"), nullable=False),
        sa.Column("answers", JSONType, nullable=False),
        sa.Column("employed", sa.Boolean(), nullable=False),
        sa.Column("in_trained_occupation", sa.Boolean(), nullable=True),
        sa.Column("employer_type", sa.String(30), nullable=True),
        sa.Column("income_band", sa.String(30), nullable=True),
        sa.Column("further_study", sa.Boolean(), nullable=True),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_followup_responses_round_id", "followup_responses", ["round_id"])


def downgrade() -> None:
    op.drop_table("followup_responses")
    op.drop_table("followup_invitations")
    op.drop_table("followup_rounds")
