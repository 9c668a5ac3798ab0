"""learning: LTI 1.3 / LTI Advantage, tool side — registered platforms (issuer, client id, deployments, keys, OIDC
and token endpoints), the tool's own signing keys, OIDC login states (one-time, short-lived, browser-bound),
pseudonymous LTI users, resource links with their AGS line items, launch sessions, grade links and the scores
waiting to be posted back

Revision ID: learning_lti
Revises: learning_0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from services.common.db import JSONType, UTCDateTime
from services.common.migration_ops import entity_columns

revision = "learning_lti"
down_revision = "learning_0006"
branch_labels = None
depends_on = None


def _platform_fk(**kw: object) -> sa.Column:
    return sa.Column("platform_id", sa.Uuid(), sa.ForeignKey("lti_platforms.id", ondelete="CASCADE"), nullable=False, **kw)


def upgrade() -> None:
    op.create_table(
        "lti_platforms",
        *entity_columns(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("issuer", sa.String(255), nullable=False),
        sa.Column("client_id", sa.String(255), nullable=False),
        sa.Column("deployment_ids", JSONType, nullable=False),
        sa.Column("jwks_url", sa.String(2000), nullable=True),
        sa.Column("jwks", JSONType, nullable=True),
        sa.Column("auth_login_url", sa.String(2000), nullable=False),
        sa.Column("token_url", sa.String(2000), nullable=True),
        sa.Column("token_audience", sa.String(2000), nullable=True),
        sa.Column("institution_code", sa.String(20), nullable=True),
        sa.Column("province_code", sa.String(10), nullable=True),
        sa.Column("institution_type", sa.String(20), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.UniqueConstraint("issuer", "client_id", name="uq_lti_platform_issuer_client"),
    )
    op.create_index("ix_lti_platforms_issuer", "lti_platforms", ["issuer"])
    op.create_index("ix_lti_platforms_institution_code", "lti_platforms", ["institution_code"])
    op.create_table(
        "lti_tool_keys",
        *entity_columns(),
        sa.Column("kid", sa.String(64), nullable=False, unique=True),
        sa.Column("algorithm", sa.String(10), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("private_key_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("public_jwk", JSONType, nullable=False),
        sa.Column("retire_after", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_lti_tool_keys_status", "lti_tool_keys", ["status"])
    op.create_table(
        "lti_login_states",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("state_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("nonce", sa.String(100), nullable=False),
        sa.Column("browser_hash", sa.String(64), nullable=False),
        _platform_fk(),
        sa.Column("target_link_uri", sa.String(2000), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_lti_login_states_platform_id", "lti_login_states", ["platform_id"])
    op.create_index("ix_lti_login_states_expires_at", "lti_login_states", ["expires_at"])
    op.create_table(
        "lti_users",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _platform_fk(),
        sa.Column("sub", sa.String(255), nullable=False),
        sa.Column("name", sa.String(300), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_launch_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("platform_id", "sub", name="uq_lti_user_platform_sub"),
    )
    op.create_table(
        "lti_resource_links",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _platform_fk(),
        sa.Column("deployment_id", sa.String(255), nullable=False),
        sa.Column("resource_link_id", sa.String(255), nullable=False),
        sa.Column("target_kind", sa.String(20), nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.Column("title", sa.String(300), nullable=True),
        sa.Column("lineitem_url", sa.String(2000), nullable=True),
        sa.Column("ags_scopes", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("platform_id", "deployment_id", "resource_link_id", name="uq_lti_resource_link"),
    )
    op.create_table(
        "lti_sessions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        _platform_fk(),
        sa.Column("lti_user_id", sa.Uuid(), sa.ForeignKey("lti_users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("message_type", sa.String(40), nullable=False),
        sa.Column("target_kind", sa.String(20), nullable=True),
        sa.Column("target_id", sa.String(64), nullable=True),
        sa.Column("record", sa.String(100), nullable=True),
        sa.Column("resource_link_id", sa.Uuid(), sa.ForeignKey("lti_resource_links.id", ondelete="CASCADE"), nullable=True),
        sa.Column("deep_linking", JSONType, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_lti_sessions_lti_user_id", "lti_sessions", ["lti_user_id"])
    op.create_index("ix_lti_sessions_expires_at", "lti_sessions", ["expires_at"])
    op.create_table(
        "lti_grade_links",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("resource_link_id", sa.Uuid(), sa.ForeignKey("lti_resource_links.id", ondelete="CASCADE"), nullable=False),
        sa.Column("lti_user_id", sa.Uuid(), sa.ForeignKey("lti_users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("record", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("resource_link_id", "lti_user_id", name="uq_lti_grade_link"),
    )
    op.create_index("ix_lti_grade_links_record", "lti_grade_links", ["record"])
    op.create_table(
        "lti_scores",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("grade_link_id", sa.Uuid(), sa.ForeignKey("lti_grade_links.id", ondelete="CASCADE"), nullable=False),
        _platform_fk(),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("lineitem_url", sa.String(2000), nullable=False),
        sa.Column("score", JSONType, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(1000), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("grade_link_id", "source", name="uq_lti_score_source"),
    )
    op.create_index("ix_lti_scores_due", "lti_scores", ["status", "next_attempt_at"])
    op.create_index("ix_lti_scores_platform_id", "lti_scores", ["platform_id"])


def downgrade() -> None:
    op.drop_index("ix_lti_scores_platform_id", table_name="lti_scores")
    op.drop_index("ix_lti_scores_due", table_name="lti_scores")
    op.drop_table("lti_scores")
    op.drop_index("ix_lti_grade_links_record", table_name="lti_grade_links")
    op.drop_table("lti_grade_links")
    op.drop_index("ix_lti_sessions_expires_at", table_name="lti_sessions")
    op.drop_index("ix_lti_sessions_lti_user_id", table_name="lti_sessions")
    op.drop_table("lti_sessions")
    op.drop_table("lti_resource_links")
    op.drop_table("lti_users")
    op.drop_index("ix_lti_login_states_expires_at", table_name="lti_login_states")
    op.drop_index("ix_lti_login_states_platform_id", table_name="lti_login_states")
    op.drop_table("lti_login_states")
    op.drop_index("ix_lti_tool_keys_status", table_name="lti_tool_keys")
    op.drop_table("lti_tool_keys")
    op.drop_index("ix_lti_platforms_institution_code", table_name="lti_platforms")
    op.drop_index("ix_lti_platforms_issuer", table_name="lti_platforms")
    op.drop_table("lti_platforms")
