"""identity: persons keyed by personal identification number

Revision ID: identity_0002
Revises: identity_0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from services.common.db import UTCDateTime

revision = "identity_0002"
down_revision = "identity_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "persons",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("id_number", sa.String(12), nullable=False, unique=True),
        sa.Column("full_name", sa.String(300), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("gender", sa.String(10), nullable=True),
        sa.Column("birth_place", sa.String(300), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("persons")
