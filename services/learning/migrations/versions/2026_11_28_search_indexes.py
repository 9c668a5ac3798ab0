"""learning: indexes for the library search's sorts and filters (newest, most used, type, language, licence) and
for finding expired upload sessions (status, expires_at)

Revision ID: learning_0003
Revises: learning_0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "learning_0003"
down_revision = "learning_0002"
branch_labels = None
depends_on = None

#: the search's sort keys, all descending, so one backward index scan serves each order and its keyset cursor
NEWEST = "coalesce(published_at, created_at)"
USAGE = "(view_count + download_count)"


def upgrade() -> None:
    op.create_index("ix_learning_objects_newest", "learning_objects", [sa.text(NEWEST), "id"])
    op.create_index("ix_learning_objects_most_used", "learning_objects", [sa.text(USAGE), sa.text(NEWEST), "id"])
    for column in ("type", "language", "licence"):
        op.create_index(f"ix_learning_objects_{column}", "learning_objects", [column])
    op.create_index("ix_upload_sessions_status_expires_at", "upload_sessions", ["status", "expires_at"])


def downgrade() -> None:
    op.drop_index("ix_upload_sessions_status_expires_at", table_name="upload_sessions")
    for column in ("licence", "language", "type"):
        op.drop_index(f"ix_learning_objects_{column}", table_name="learning_objects")
    op.drop_index("ix_learning_objects_most_used", table_name="learning_objects")
    op.drop_index("ix_learning_objects_newest", table_name="learning_objects")
