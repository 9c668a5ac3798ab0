"""records: national oversight — the registry's and learning's facts pulled here, credentials from their events,
targets, officer-entered indicator values, yearly snapshots, the audit of targets and values; the change feed
indexed for the freshness of each kind of data per institution

Revision ID: records_0009
Revises: records_0008
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from services.common.db import JSONType, UTCDateTime
from services.common.migration_ops import entity_columns

revision = "records_0009"
down_revision = "records_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oversight_institutions",
        sa.Column("code", sa.String(20), primary_key=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("type", sa.String(30), nullable=False),
        sa.Column("ownership", sa.String(30), nullable=False),
        sa.Column("province_code", sa.String(3), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("machine_clients_active", sa.Integer(), nullable=False),
        sa.Column("teachers", sa.Integer(), nullable=True),
        sa.Column("managers", sa.Integer(), nullable=True),
        sa.Column("staff_year", sa.Integer(), nullable=True),
        sa.Column("registry_pulled_at", UTCDateTime(), nullable=False),
        sa.Column("objects_published", sa.Integer(), nullable=False),
        sa.Column("last_published_at", UTCDateTime(), nullable=True),
        sa.Column("students_completed", sa.Integer(), nullable=False),
        sa.Column("teachers_digital_completed", sa.Integer(), nullable=False),
        sa.Column("activity_pulled_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_oversight_institutions_province_code", "oversight_institutions", ["province_code"])
    op.create_table(
        "oversight_pulls",
        sa.Column("source", sa.String(20), primary_key=True),
        sa.Column("last_success_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(1000), nullable=True),
        sa.Column("last_error_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "oversight_credentials",
        sa.Column("credential_id", sa.Uuid(), primary_key=True),
        sa.Column("institution_code", sa.String(20), nullable=True),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("level", sa.String(30), nullable=True),
        sa.Column("award_year", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_oversight_credentials_institution", "oversight_credentials", ["institution_code", "kind"])
    op.create_table(
        "oversight_targets",
        *entity_columns(),
        sa.Column("source_decision", sa.String(100), nullable=False),
        sa.Column("indicator", sa.String(60), nullable=False),
        sa.Column("province_code", sa.String(3), nullable=False),
        sa.Column("institution_type", sa.String(30), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("note", sa.String(1000), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.UniqueConstraint("source_decision", "indicator", "province_code", "institution_type", "year", name="uq_oversight_target"),
    )
    op.create_index("ix_oversight_targets_indicator", "oversight_targets", ["indicator"])
    op.create_table(
        "oversight_indicator_values",
        *entity_columns(),
        sa.Column("indicator", sa.String(60), nullable=False),
        sa.Column("province_code", sa.String(3), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("note", sa.String(1000), nullable=True),
        sa.Column("entered_by", sa.String(200), nullable=False),
        sa.Column("entered_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("indicator", "province_code", "year", name="uq_oversight_indicator_value"),
    )
    op.create_table(
        "oversight_indicator_snapshots",
        sa.Column("indicator", sa.String(60), primary_key=True),
        sa.Column("province_code", sa.String(3), primary_key=True),
        sa.Column("year", sa.Integer(), primary_key=True),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "oversight_audit",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("entity", sa.String(30), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("before", JSONType, nullable=True),
        sa.Column("after", JSONType, nullable=True),
    )
    op.create_index("ix_oversight_audit_entity", "oversight_audit", ["entity", "entity_id"])
    op.create_index("ix_changes_institution_entity_changed", "changes", ["institution_code", "entity", "changed_at"])


def downgrade() -> None:
    op.drop_index("ix_changes_institution_entity_changed", table_name="changes")
    op.drop_index("ix_oversight_audit_entity", table_name="oversight_audit")
    op.drop_table("oversight_audit")
    op.drop_table("oversight_indicator_snapshots")
    op.drop_table("oversight_indicator_values")
    op.drop_index("ix_oversight_targets_indicator", table_name="oversight_targets")
    op.drop_table("oversight_targets")
    op.drop_index("ix_oversight_credentials_institution", table_name="oversight_credentials")
    op.drop_table("oversight_credentials")
    op.drop_table("oversight_pulls")
    op.drop_index("ix_oversight_institutions_province_code", table_name="oversight_institutions")
    op.drop_table("oversight_institutions")
