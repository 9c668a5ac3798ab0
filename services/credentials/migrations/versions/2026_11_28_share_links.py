"""credentials: holders' expiring share links

Revision ID: credentials_0003
Revises: credentials_0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from services.common.db import UTCDateTime
from services.common.migration_ops import entity_columns

revision = "credentials_0003"
down_revision = "credentials_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "share_links",
        *entity_columns(),
        sa.Column("credential_id", sa.Uuid(), sa.ForeignKey("credentials.id", name="fk_share_links_credential"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(200), nullable=True),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.Column("last_viewed_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("token_hash", name="uq_share_links_token_hash"),
    )
    op.create_index("ix_share_links_credential", "share_links", ["credential_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_share_links_credential", table_name="share_links")
    op.drop_table("share_links")
