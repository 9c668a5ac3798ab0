"""records: drop ix_grades_enrolment_id, which uq_grade_sitting (enrolment_id, module_id, term_id) already covers

Every grade written paid for the second index; lookups by enrolment (transcripts, the foreign key's checks when an
enrolment goes) use the unique index's leading column.

Revision ID: records_0004
Revises: records_0003
Create Date: 2026-11-29
"""

from alembic import op

revision = "records_0004"
down_revision = "records_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_grades_enrolment_id", table_name="grades")


def downgrade() -> None:
    op.create_index("ix_grades_enrolment_id", "grades", ["enrolment_id"])
