"""credentials: find the credentials of a staff account without a person record (learner_id account:<id>)

Revision ID: credentials_0004
Revises: credentials_0003
Create Date: 2026-11-29
"""

from alembic import op

revision = "credentials_0004"
down_revision = "credentials_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_credentials_learner", "credentials", ["learner_id"])


def downgrade() -> None:
    op.drop_index("ix_credentials_learner", table_name="credentials")
