"""credentials: the kit's worker leases (one replica at a time runs a singleton background worker)

Revision ID: credentials_worker_leases
Revises: credentials_0006
Create Date: 2026-12-09
"""

from services.common.migration_ops import create_worker_leases_table, drop_worker_leases_table

revision = "credentials_worker_leases"
down_revision = "credentials_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_worker_leases_table()


def downgrade() -> None:
    drop_worker_leases_table()
