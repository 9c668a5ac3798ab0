"""learning: the xAPI State Resource (xapi_states: one document per activity, agent, registration or none, and
stateId, kept as sent with its content type and ETag), and cmi5 fetch URLs on launches (a keyed hash of the one-time
fetch secret, when it was used, and a keyed hash of the Basic secret it handed out)

Revision ID: learning_0006
Revises: learning_0005
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from services.common.db import UTCDateTime

revision = "learning_0006"
down_revision = "learning_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "xapi_states",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("scope_hash", sa.String(64), nullable=False),
        sa.Column("activity_id", sa.String(1000), nullable=False),
        sa.Column("agent_key", sa.String(500), nullable=False),
        sa.Column("registration", sa.Uuid(), nullable=True),
        sa.Column("state_id", sa.String(500), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("etag", sa.String(70), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("scope_hash", "state_id", name="uq_xapi_states_document"),
    )
    op.create_index("ix_xapi_states_scope_updated", "xapi_states", ["scope_hash", "updated_at"])
    with op.batch_alter_table("xapi_launches") as batch:
        batch.add_column(sa.Column("fetch_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("fetched_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("token_hash", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("xapi_launches") as batch:
        batch.drop_column("token_hash")
        batch.drop_column("fetched_at")
        batch.drop_column("fetch_hash")
    op.drop_index("ix_xapi_states_scope_updated", table_name="xapi_states")
    op.drop_table("xapi_states")
