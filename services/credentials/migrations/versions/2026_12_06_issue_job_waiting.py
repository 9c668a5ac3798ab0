"""credentials: an issue job waiting out a transient failure says why and since when (issue_jobs.waiting, waiting_since)

Revision ID: credentials_0006
Revises: credentials_0005
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from services.common.db import UTCDateTime

revision = "credentials_0006"
down_revision = "credentials_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("issue_jobs") as batch:
        batch.add_column(sa.Column("waiting", sa.Text(), nullable=True))
        batch.add_column(sa.Column("waiting_since", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("issue_jobs") as batch:
        batch.drop_column("waiting_since")
        batch.drop_column("waiting")
