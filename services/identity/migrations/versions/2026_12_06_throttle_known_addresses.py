"""identity: sign-in throttles remember a pair's last success (an address the account signs in from is not held
by waits that guesses from elsewhere caused)

Revision ID: identity_0005
Revises: identity_0004
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from services.common.db import UTCDateTime

revision = "identity_0005"
down_revision = "identity_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("login_throttles") as batch:
        batch.add_column(sa.Column("last_success_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("login_throttles") as batch:
        batch.drop_column("last_success_at")
