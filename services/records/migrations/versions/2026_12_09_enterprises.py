"""records: enterprises as participants — invitations (programme review, assessment panel, employer feedback) and
their comments on learning outcomes

Revision ID: records_0016
Revises: records_0015
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op

from services.common.db import JSONType, UTCDateTime
from services.common.migration_ops import entity_columns

revision = "records_0016"
down_revision = "records_0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "enterprise_invitations",
        *entity_columns(),
        sa.Column("institution_code", sa.String(20), nullable=False),
        sa.Column("enterprise_code", sa.String(20), nullable=False),
        sa.Column("purpose", sa.String(30), nullable=False),
        sa.Column("subject", sa.String(100), nullable=False),
        sa.Column("programme_id", sa.Uuid(), sa.ForeignKey("programmes.id", ondelete="CASCADE"), nullable=True),
        sa.Column("assessment_id", sa.Uuid(), sa.ForeignKey("rpl_assessments.id", ondelete="CASCADE"), nullable=True),
        sa.Column("graduation_year", sa.Integer(), nullable=True),
        sa.Column("questions", JSONType, nullable=False),
        sa.Column("message", sa.String(2000), nullable=True),
        sa.Column("closes_on", sa.Date(), nullable=True),
        sa.Column("responded_at", UTCDateTime(), nullable=True),
        sa.Column("response", JSONType, nullable=True),
        sa.Column("channel", sa.String(10), nullable=True),
        sa.UniqueConstraint("institution_code", "enterprise_code", "purpose", "subject", name="uq_enterprise_invitation"),
    )
    op.create_index("ix_enterprise_invitations_institution_code", "enterprise_invitations", ["institution_code"])
    op.create_index("ix_enterprise_invitations_enterprise_code", "enterprise_invitations", ["enterprise_code"])
    op.create_table(
        "outcome_comments",
        *entity_columns(),
        sa.Column("invitation_id", sa.Uuid(), sa.ForeignKey("enterprise_invitations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("programme_id", sa.Uuid(), sa.ForeignKey("programmes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("outcome_code", sa.String(50), nullable=False),
        sa.Column("comment", sa.String(4000), nullable=False),
        sa.UniqueConstraint("invitation_id", "outcome_code", name="uq_outcome_comment"),
    )
    op.create_index("ix_outcome_comments_invitation_id", "outcome_comments", ["invitation_id"])
    op.create_index("ix_outcome_comments_programme_id", "outcome_comments", ["programme_id"])


def downgrade() -> None:
    op.drop_index("ix_outcome_comments_programme_id", table_name="outcome_comments")
    op.drop_index("ix_outcome_comments_invitation_id", table_name="outcome_comments")
    op.drop_table("outcome_comments")
    op.drop_index("ix_enterprise_invitations_enterprise_code", table_name="enterprise_invitations")
    op.drop_index("ix_enterprise_invitations_institution_code", table_name="enterprise_invitations")
    op.drop_table("enterprise_invitations")
