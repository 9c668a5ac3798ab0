"""learning: e-course enrolments can be withdrawn (who, when, why on the enrolment; every withdrawal and reopening in
course_enrolment_changes) and keep their institution's type (for coverage by institution type; rows enrolled before
stay null and reports resolve them through the registry); lesson progress says whether an API call completed a lesson
and xAPI statements which enrolment they fed (so voiding a statement can undo a lesson's completion)

Revision ID: learning_0005
Revises: learning_0004
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from services.common.db import UTCDateTime

revision = "learning_0005"
down_revision = "learning_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("course_enrolments") as batch:
        batch.add_column(sa.Column("institution_type", sa.String(20), nullable=True))
        batch.add_column(sa.Column("withdrawn_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("withdrawn_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("withdrawal_reason", sa.String(1000), nullable=True))
    op.create_table(
        "course_enrolment_changes",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("enrolment_id", sa.Uuid(), sa.ForeignKey("course_enrolments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_course_enrolment_changes_enrolment", "course_enrolment_changes", ["enrolment_id", "at"])
    with op.batch_alter_table("lesson_progress") as batch:
        batch.add_column(sa.Column("completed_by_api", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("xapi_statements") as batch:
        batch.add_column(sa.Column("enrolment_id", sa.Uuid(), nullable=True))
    op.create_index("ix_xapi_statements_enrolment", "xapi_statements", ["enrolment_id", "activity_id"])


def downgrade() -> None:
    op.drop_index("ix_xapi_statements_enrolment", table_name="xapi_statements")
    with op.batch_alter_table("xapi_statements") as batch:
        batch.drop_column("enrolment_id")
    with op.batch_alter_table("lesson_progress") as batch:
        batch.drop_column("completed_by_api")
    op.drop_index("ix_course_enrolment_changes_enrolment", table_name="course_enrolment_changes")
    op.drop_table("course_enrolment_changes")
    with op.batch_alter_table("course_enrolments") as batch:
        batch.drop_column("withdrawal_reason")
        batch.drop_column("withdrawn_by")
        batch.drop_column("withdrawn_at")
        batch.drop_column("institution_type")
