"""credentials: kit tables (idempotency records, outbox, inbox)

Revision ID: credentials_0001
Revises:
Create Date: 2026-11-28
"""

from services.common.migration_ops import create_kit_tables, drop_kit_tables

revision = "credentials_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_kit_tables()


def downgrade() -> None:
    drop_kit_tables()
