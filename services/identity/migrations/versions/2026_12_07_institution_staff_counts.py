"""identity: institutions' staff counts per year (teachers, managers), reported by the schools

Revision ID: identity_0007
Revises: identity_0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from services.common.db import UTCDateTime
from services.common.migration_ops import entity_columns

revision = "identity_0007"
down_revision = "identity_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "institution_staff_counts",
        *entity_columns(),
        sa.Column("institution_code", sa.String(20), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("teachers", sa.Integer(), nullable=False),
        sa.Column("managers", sa.Integer(), nullable=False),
        sa.Column("reported_by", sa.String(200), nullable=False),
        sa.Column("reported_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("institution_code", "year", name="uq_staff_count_year"),
    )
    op.create_index("ix_institution_staff_counts_institution_code", "institution_staff_counts", ["institution_code"])


def downgrade() -> None:
    op.drop_index("ix_institution_staff_counts_institution_code", table_name="institution_staff_counts")
    op.drop_table("institution_staff_counts")
