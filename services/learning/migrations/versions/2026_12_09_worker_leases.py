"""learning: the kit's worker leases (one replica at a time runs a singleton background worker)

Revision ID: learning_worker_leases
Revises: learning_assessment
Create Date: 2026-12-09
"""

from services.common.migration_ops import create_worker_leases_table, drop_worker_leases_table

revision = "learning_worker_leases"
down_revision = "learning_assessment"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_worker_leases_table()


def downgrade() -> None:
    drop_worker_leases_table()
