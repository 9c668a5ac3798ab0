"""learning: the shared learning-material library — objects, versions, blobs, packages, resumable uploads,
moderation, reviewers, usage, acquisitions, and the full-text index (PostgreSQL tsvector + GIN, SQLite FTS5)

Revision ID: learning_0002
Revises: learning_0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from services.common.db import JSONType, UTCDateTime

revision = "learning_0002"
down_revision = "learning_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("object_key", sa.String(500), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(200), nullable=False),
        sa.Column("scan_status", sa.String(20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "packages",
        sa.Column("blob_id", sa.Uuid(), sa.ForeignKey("blobs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("manifest", JSONType, nullable=False),
        sa.Column("launch_path", sa.String(1000), nullable=False),
        sa.Column("content_prefix", sa.String(200), nullable=False),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("expanded_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "learning_objects",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("institution_code", sa.String(20), nullable=False),
        sa.Column("owner_sub", sa.String(200), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("published_version", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("language", sa.String(10), nullable=False),
        sa.Column("licence", sa.String(30), nullable=False),
        sa.Column("visibility", sa.String(20), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=True),
        sa.Column("view_count", sa.Integer(), nullable=False),
        sa.Column("download_count", sa.Integer(), nullable=False),
    )
    op.create_index("ix_learning_objects_institution_code", "learning_objects", ["institution_code"])
    op.create_index("ix_learning_objects_listing", "learning_objects", ["published_version", "visibility"])
    op.create_table(
        "learning_object_tags",
        sa.Column("object_id", sa.Uuid(), sa.ForeignKey("learning_objects.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("value", sa.String(50), primary_key=True),
    )
    op.create_index("ix_learning_object_tags_kind_value", "learning_object_tags", ["kind", "value"])
    op.create_table(
        "learning_object_versions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("object_id", sa.Uuid(), sa.ForeignKey("learning_objects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("meta", JSONType, nullable=False),
        sa.Column("blob_id", sa.Uuid(), sa.ForeignKey("blobs.id"), nullable=True),
        sa.Column("filename", sa.String(255), nullable=True),
        sa.Column("change_note", sa.String(1000), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("object_id", "number", name="uq_learning_object_version"),
    )
    op.create_table(
        "moderation_events",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("object_id", sa.Uuid(), sa.ForeignKey("learning_objects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(2000), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_moderation_events_object_id", "moderation_events", ["object_id"])
    op.create_table(
        "reviewers",
        sa.Column("subject", sa.String(200), primary_key=True),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("designated_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "upload_sessions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("object_id", sa.Uuid(), sa.ForeignKey("learning_objects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("declared_type", sa.String(200), nullable=True),
        sa.Column("detected_type", sa.String(200), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("part_size", sa.BigInteger(), nullable=False),
        sa.Column("object_key", sa.String(500), nullable=False),
        sa.Column("store_upload_id", sa.String(500), nullable=False),
        sa.Column("change_note", sa.String(1000), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_upload_sessions_object_id", "upload_sessions", ["object_id"])
    op.create_table(
        "upload_parts",
        sa.Column("session_id", sa.Uuid(), sa.ForeignKey("upload_sessions.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("number", sa.Integer(), primary_key=True),
        sa.Column("etag", sa.String(200), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "usage_counters",
        sa.Column("object_id", sa.Uuid(), sa.ForeignKey("learning_objects.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("institution_code", sa.String(20), primary_key=True),
        sa.Column("kind", sa.String(10), primary_key=True),
        sa.Column("count", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "acquisitions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("object_id", sa.Uuid(), sa.ForeignKey("learning_objects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("acquirer_sub", sa.String(200), nullable=False),
        sa.Column("institution_code", sa.String(20), nullable=True),
        sa.Column("price_amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("terms_sha256", sa.String(64), nullable=False),
        sa.Column("licence", JSONType, nullable=False),
        sa.Column("acquired_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("object_id", "acquirer_sub", name="uq_acquisition_object_acquirer"),
    )
    op.create_index("ix_acquisitions_object_id", "acquisitions", ["object_id"])

    if op.get_bind().dialect.name == "postgresql":
        # folded text (no diacritics) → 'simple' tsvector (no stemming: Vietnamese has none), GIN-indexed
        op.execute(
            "ALTER TABLE learning_objects ADD COLUMN search_vector tsvector "
            "GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED"
        )
        op.execute("CREATE INDEX ix_learning_objects_search ON learning_objects USING gin (search_vector)")
    else:
        op.execute("CREATE VIRTUAL TABLE learning_object_search USING fts5(object_id UNINDEXED, body, tokenize='unicode61')")
        op.execute(
            "CREATE TRIGGER learning_object_search_ai AFTER INSERT ON learning_objects BEGIN "
            "INSERT INTO learning_object_search(object_id, body) VALUES (new.id, new.search_text); END"
        )
        op.execute(
            "CREATE TRIGGER learning_object_search_au AFTER UPDATE OF search_text ON learning_objects BEGIN "
            "DELETE FROM learning_object_search WHERE object_id = old.id; "
            "INSERT INTO learning_object_search(object_id, body) VALUES (new.id, new.search_text); END"
        )
        op.execute(
            "CREATE TRIGGER learning_object_search_ad AFTER DELETE ON learning_objects BEGIN "
            "DELETE FROM learning_object_search WHERE object_id = old.id; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for name in ("learning_object_search_ad", "learning_object_search_au", "learning_object_search_ai"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS learning_object_search")
    for table in (
        "acquisitions",
        "usage_counters",
        "upload_parts",
        "upload_sessions",
        "reviewers",
        "moderation_events",
        "learning_object_versions",
        "learning_object_tags",
        "learning_objects",
        "packages",
        "blobs",
    ):
        op.drop_table(table)
