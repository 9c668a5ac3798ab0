"""identity: signing keys, API clients, institutions, accounts, kit tables

Revision ID: identity_0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from services.common.db import JSONType, UTCDateTime
from services.common.migration_ops import create_kit_tables, drop_kit_tables, entity_columns

revision = "identity_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_kit_tables()
    op.create_table(
        "signing_keys",
        *entity_columns(),
        sa.Column("kid", sa.String(64), nullable=False, unique=True),
        sa.Column("algorithm", sa.String(10), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("private_key_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("public_jwk", JSONType, nullable=False),
        sa.Column("retire_after", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_signing_keys_status", "signing_keys", ["status"])
    op.create_table(
        "api_clients",
        *entity_columns(),
        sa.Column("client_id", sa.String(100), nullable=False, unique=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(2000), nullable=False),
        sa.Column("institution_code", sa.String(20), nullable=True),
        sa.Column("roles", JSONType, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "institutions",
        *entity_columns(),
        sa.Column("code", sa.String(20), nullable=False, unique=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("type", sa.String(30), nullable=False),
        sa.Column("ownership", sa.String(30), nullable=False),
        sa.Column("province_code", sa.String(3), nullable=False),
    )
    op.create_table(
        "accounts",
        *entity_columns(),
        sa.Column("username", sa.String(100), nullable=False, unique=True),
        sa.Column("full_name", sa.String(300), nullable=False),
        sa.Column("password_hash", sa.String(300), nullable=True),
        sa.Column("roles", JSONType, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("accounts")
    op.drop_table("institutions")
    op.drop_table("api_clients")
    op.drop_index("ix_signing_keys_status", table_name="signing_keys")
    op.drop_table("signing_keys")
    drop_kit_tables()
