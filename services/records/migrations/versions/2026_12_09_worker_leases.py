"""records: the kit's worker leases (one replica at a time runs a singleton background worker)

Revision ID: records_worker_leases
Revises: records_0013
Create Date: 2026-12-09
"""

from services.common.migration_ops import create_worker_leases_table, drop_worker_leases_table

revision = "records_worker_leases"
down_revision = "records_0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_worker_leases_table()


def downgrade() -> None:
    drop_worker_leases_table()
