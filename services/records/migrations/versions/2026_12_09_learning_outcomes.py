"""records: programmes' and modules' learning outcomes (VQF level, digital-competence flag)

Revision ID: records_0014
Revises: records_worker_leases
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op

from services.common.migration_ops import entity_columns

revision = "records_0014"
down_revision = "records_worker_leases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "learning_outcomes",
        *entity_columns(),
        sa.Column("programme_id", sa.Uuid(), sa.ForeignKey("programmes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("module_id", sa.Uuid(), sa.ForeignKey("modules.id", ondelete="CASCADE"), nullable=True),
        sa.Column("code", sa.String(50), nullable=False),
        sa.Column("text", sa.String(2000), nullable=False),
        sa.Column("vqf_level", sa.Integer(), nullable=False),
        sa.Column("digital_competence", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.UniqueConstraint("programme_id", "code", name="uq_learning_outcome_code"),
    )
    op.create_index("ix_learning_outcomes_programme_id", "learning_outcomes", ["programme_id"])


def downgrade() -> None:
    op.drop_index("ix_learning_outcomes_programme_id", table_name="learning_outcomes")
    op.drop_table("learning_outcomes")
