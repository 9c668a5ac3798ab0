"""records: progress of an all_or_nothing sync job while it runs (its counts commit only at its end)

Revision ID: records_0005
Revises: records_0004
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from services.common.db import UTCDateTime

revision = "records_0005"
down_revision = "records_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_job_progress",
        # no foreign key: checking one would wait for the job row that the job's own transaction holds
        sa.Column("job_id", sa.Uuid(), primary_key=True),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sync_job_progress")
