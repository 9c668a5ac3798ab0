"""records: the labour-market feed's recipients and their masking rules

Revision ID: records_0013
Revises: records_0012
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

from services.common.db import JSONType, UTCDateTime

revision = "records_0013"
down_revision = "records_0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lmis_recipients",
        sa.Column("client_id", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("id_numbers", sa.String(20), nullable=False),
        sa.Column("names", sa.Boolean(), nullable=False),
        sa.Column("provinces", JSONType, nullable=True),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("lmis_recipients")
