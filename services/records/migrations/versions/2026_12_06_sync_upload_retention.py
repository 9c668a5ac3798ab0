"""records: a sync job keeps its upload's SHA-256 and when the upload was deleted (retention of personal data)

Revision ID: records_0007
Revises: records_0006
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from services.common.db import UTCDateTime

revision = "records_0007"
down_revision = "records_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sync_jobs", sa.Column("upload_sha256", sa.String(64), nullable=True))
    op.add_column("sync_jobs", sa.Column("upload_deleted_at", UTCDateTime(), nullable=True))
    # the retention sweep: jobs whose upload is still there, oldest end first
    op.create_index("ix_sync_jobs_upload_retention", "sync_jobs", ["upload_deleted_at", "finished_at"])


def downgrade() -> None:
    op.drop_index("ix_sync_jobs_upload_retention", table_name="sync_jobs")
    with op.batch_alter_table("sync_jobs") as batch:
        batch.drop_column("upload_deleted_at")
        batch.drop_column("upload_sha256")
