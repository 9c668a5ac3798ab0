"""identity: VNeID sign-ins bound to the browser that started them (a hash of its cookie), and the one-time code
the callback leaves for that browser's front end to exchange for the tokens (tokens never travel in a URL)

Revision ID: identity_0006
Revises: identity_0005
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from services.common.db import UTCDateTime

revision = "identity_0006"
down_revision = "identity_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("oidc_auth_requests") as batch:
        batch.add_column(sa.Column("binding_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("code_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("account_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("code_expires_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("code_used_at", UTCDateTime(), nullable=True))
        batch.create_unique_constraint("uq_oidc_auth_requests_code_hash", ["code_hash"])
        batch.create_foreign_key("fk_oidc_auth_requests_account_id", "accounts", ["account_id"], ["id"], ondelete="CASCADE")


def downgrade() -> None:
    with op.batch_alter_table("oidc_auth_requests") as batch:
        batch.drop_constraint("fk_oidc_auth_requests_account_id", type_="foreignkey")
        batch.drop_constraint("uq_oidc_auth_requests_code_hash", type_="unique")
        batch.drop_column("code_used_at")
        batch.drop_column("code_expires_at")
        batch.drop_column("account_id")
        batch.drop_column("code_hash")
        batch.drop_column("binding_hash")
