"""identity: the kit's worker leases (one replica at a time runs a singleton background worker)

Revision ID: identity_worker_leases
Revises: identity_0007
Create Date: 2026-12-09
"""

from services.common.migration_ops import create_worker_leases_table, drop_worker_leases_table

revision = "identity_worker_leases"
down_revision = "identity_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_worker_leases_table()


def downgrade() -> None:
    drop_worker_leases_table()
