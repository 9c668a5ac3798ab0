"""credentials: issuers and their keys, credentials, status lists, status changes, batch jobs, verification log

Revision ID: credentials_0002
Revises: credentials_0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from services.common.db import JSONType, UTCDateTime
from services.common.migration_ops import entity_columns

revision = "credentials_0002"
down_revision = "credentials_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "issuers",
        *entity_columns(),
        sa.Column("institution_code", sa.String(20), nullable=False),
        sa.Column("did", sa.String(300), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("province_code", sa.String(3), nullable=True),
        sa.Column("institution_type", sa.String(30), nullable=True),
        sa.Column("institution_status", sa.String(20), nullable=False),
        sa.Column("closed_on", sa.String(10), nullable=True),
        sa.UniqueConstraint("institution_code", name="uq_issuers_institution_code"),
        sa.UniqueConstraint("did", name="uq_issuers_did"),
    )
    op.create_table(
        "issuer_keys",
        *entity_columns(),
        sa.Column("issuer_id", sa.Uuid(), sa.ForeignKey("issuers.id", name="fk_issuer_keys_issuer"), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sealed_private_key", sa.LargeBinary(), nullable=False),
        sa.Column("key_ref", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("retired_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("issuer_id", "key_id", name="uq_issuer_keys_issuer_key"),
    )
    op.create_index("ix_issuer_keys_issuer_id", "issuer_keys", ["issuer_id"])
    op.create_table(
        "register_counters",
        sa.Column("institution_code", sa.String(20), primary_key=True),
        sa.Column("year", sa.Integer(), primary_key=True),
        sa.Column("next_value", sa.Integer(), nullable=False),
    )
    op.create_table(
        "status_lists",
        *entity_columns(),
        sa.Column("issuer_id", sa.Uuid(), sa.ForeignKey("issuers.id", name="fk_status_lists_issuer"), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("bits", sa.LargeBinary(), nullable=False),
        sa.Column("allocated", sa.LargeBinary(), nullable=False),
        sa.Column("allocated_count", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", JSONType, nullable=True),
        sa.Column("signed_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("issuer_id", "purpose", "number", name="uq_status_lists_issuer_purpose_number"),
    )
    op.create_table(
        "credentials",
        *entity_columns(),
        sa.Column("issuer_id", sa.Uuid(), sa.ForeignKey("issuers.id", name="fk_credentials_issuer"), nullable=False),
        sa.Column("institution_code", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("level", sa.String(30), nullable=False),
        sa.Column("learner_ref", sa.String(120), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=True),
        sa.Column("learner_id", sa.String(100), nullable=True),
        sa.Column("achievement_code", sa.String(120), nullable=False),
        sa.Column("award_year", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("holder_name", sa.String(300), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("serial_number", sa.String(50), nullable=False),
        sa.Column("register_number", sa.String(50), nullable=False),
        sa.Column("register_year", sa.Integer(), nullable=False),
        sa.Column("document", JSONType, nullable=False),
        sa.Column("input_fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_reason", sa.String(500), nullable=True),
        sa.Column("revocation_list_id", sa.Uuid(), sa.ForeignKey("status_lists.id", name="fk_credentials_revocation_list"), nullable=False),
        sa.Column("revocation_index", sa.Integer(), nullable=False),
        sa.Column("suspension_list_id", sa.Uuid(), sa.ForeignKey("status_lists.id", name="fk_credentials_suspension_list"), nullable=False),
        sa.Column("suspension_index", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("supersedes_id", sa.Uuid(), sa.ForeignKey("credentials.id", name="fk_credentials_supersedes"), nullable=True),
        sa.Column("superseded_by_id", sa.Uuid(), sa.ForeignKey("credentials.id", name="fk_credentials_superseded_by"), nullable=True),
        sa.Column("source_event_id", sa.Uuid(), nullable=True),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("institution_code", "learner_ref", "achievement_code", "award_year", "revision", name="uq_credentials_natural_key"),
        sa.UniqueConstraint("institution_code", "register_year", "register_number", "revision", name="uq_credentials_register_number"),
        sa.UniqueConstraint("revocation_list_id", "revocation_index", name="uq_credentials_revocation_entry"),
        sa.UniqueConstraint("suspension_list_id", "suspension_index", name="uq_credentials_suspension_entry"),
    )
    op.create_index("ix_credentials_person", "credentials", ["person_id"])
    op.create_index("ix_credentials_issuer", "credentials", ["issuer_id", "created_at"])
    op.create_table(
        "status_changes",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("credential_id", sa.Uuid(), sa.ForeignKey("credentials.id", name="fk_status_changes_credential"), nullable=False),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
    )
    op.create_index("ix_status_changes_credential_id", "status_changes", ["credential_id"])
    op.create_table(
        "issue_jobs",
        *entity_columns(),
        sa.Column("institution_code", sa.String(20), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("source_event_id", sa.Uuid(), nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.Column("existing", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.UniqueConstraint("source_event_id", name="uq_issue_jobs_source_event_id"),
    )
    op.create_index("ix_issue_jobs_institution_code", "issue_jobs", ["institution_code"])
    op.create_index("ix_issue_jobs_due", "issue_jobs", ["state", "locked_until"])
    op.create_table(
        "issue_job_items",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("job_id", sa.Uuid(), sa.ForeignKey("issue_jobs.id", name="fk_issue_job_items_job"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("payload", JSONType, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("credential_id", sa.Uuid(), nullable=True),
        sa.Column("errors", JSONType, nullable=True),
        sa.UniqueConstraint("job_id", "position", name="uq_issue_job_items_position"),
    )
    op.create_index("ix_issue_job_items_pending", "issue_job_items", ["job_id", "state", "position"])
    op.create_table(
        "verification_log",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("client_id", sa.String(200), nullable=True),
        sa.Column("credential_id", sa.Uuid(), nullable=True),
        sa.Column("issuer", sa.String(300), nullable=True),
        sa.Column("outcome", sa.String(30), nullable=False),
        sa.Column("checks", JSONType, nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
    )
    op.create_index("ix_verification_log_at", "verification_log", ["at"])
    op.create_index("ix_verification_log_credential_id", "verification_log", ["credential_id"])


def downgrade() -> None:
    op.drop_index("ix_verification_log_credential_id", table_name="verification_log")
    op.drop_index("ix_verification_log_at", table_name="verification_log")
    op.drop_table("verification_log")
    op.drop_index("ix_issue_job_items_pending", table_name="issue_job_items")
    op.drop_table("issue_job_items")
    op.drop_index("ix_issue_jobs_due", table_name="issue_jobs")
    op.drop_index("ix_issue_jobs_institution_code", table_name="issue_jobs")
    op.drop_table("issue_jobs")
    op.drop_index("ix_status_changes_credential_id", table_name="status_changes")
    op.drop_table("status_changes")
    op.drop_index("ix_credentials_issuer", table_name="credentials")
    op.drop_index("ix_credentials_person", table_name="credentials")
    op.drop_table("credentials")
    op.drop_table("status_lists")
    op.drop_table("register_counters")
    op.drop_index("ix_issuer_keys_issuer_id", table_name="issuer_keys")
    op.drop_table("issuer_keys")
    op.drop_table("issuers")
