"""records: corrections of a learner's personal ID number (audit of key changes)

Revision ID: records_0003
Revises: records_0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from services.common.db import UTCDateTime

revision = "records_0003"
down_revision = "records_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "learner_key_changes",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("learner_id", sa.Uuid(), sa.ForeignKey("learners.id"), nullable=False),
        sa.Column("institution_code", sa.String(20), nullable=False),
        sa.Column("old_id_number", sa.String(12), nullable=False),
        sa.Column("new_id_number", sa.String(12), nullable=False),
        sa.Column("old_person_id", sa.Uuid(), nullable=False),
        sa.Column("new_person_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_learner_key_changes_learner_id", "learner_key_changes", ["learner_id"])


def downgrade() -> None:
    op.drop_index("ix_learner_key_changes_learner_id", table_name="learner_key_changes")
    op.drop_table("learner_key_changes")
