"""identity: memberships, account ↔ person link, refresh-token families, sign-in throttles, OIDC requests

Revision ID: identity_0004
Revises: identity_0003
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from services.common.db import JSONType, UTCDateTime
from services.common.migration_ops import entity_columns

revision = "identity_0004"
down_revision = "identity_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("roles")
        batch.add_column(sa.Column("password_changed_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("person_id", sa.Uuid(), nullable=True))
        batch.create_unique_constraint("uq_accounts_person_id", ["person_id"])
        batch.create_foreign_key("fk_accounts_person_id", "persons", ["person_id"], ["id"])
    op.create_table(
        "memberships",
        *entity_columns(),
        sa.Column("account_id", sa.Uuid(), sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("granted_by", sa.String(200), nullable=False),
        sa.UniqueConstraint("account_id", "at", "role", name="uq_membership"),
    )
    op.create_index("ix_memberships_account_id", "memberships", ["account_id"])
    op.create_index("ix_memberships_at", "memberships", ["at"])
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("rotated_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_reason", sa.String(100), nullable=True),
    )
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"])
    op.create_index("ix_refresh_tokens_account_id", "refresh_tokens", ["account_id"])
    op.create_table(
        "login_throttles",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("lockouts", sa.Integer(), nullable=False),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("last_failure_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "oidc_auth_requests",
        *entity_columns(),
        sa.Column("state", sa.String(100), nullable=False, unique=True),
        sa.Column("nonce", sa.String(100), nullable=False),
        sa.Column("code_verifier", sa.String(200), nullable=False),
        sa.Column("return_to", sa.String(2000), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("oidc_auth_requests")
    op.drop_table("login_throttles")
    op.drop_index("ix_refresh_tokens_account_id", table_name="refresh_tokens")
    op.drop_index("ix_refresh_tokens_family_id", table_name="refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_index("ix_memberships_at", table_name="memberships")
    op.drop_index("ix_memberships_account_id", table_name="memberships")
    op.drop_table("memberships")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_constraint("fk_accounts_person_id", type_="foreignkey")
        batch.drop_constraint("uq_accounts_person_id", type_="unique")
        batch.drop_column("person_id")
        batch.drop_column("password_changed_at")
        batch.add_column(sa.Column("roles", JSONType, nullable=False, server_default="[]"))
