"""records: the OneRoster sourcedIds a school's zips carried and what each names (a delta refers to them)

Revision ID: records_0006
Revises: records_0005
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from services.common.db import UTCDateTime

revision = "records_0006"
down_revision = "records_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oneroster_ids",
        sa.Column("institution_code", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("sourced_id", sa.String(255), nullable=False),
        sa.Column("natural_key", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("institution_code", "kind", "sourced_id"),
    )


def downgrade() -> None:
    op.drop_table("oneroster_ids")
