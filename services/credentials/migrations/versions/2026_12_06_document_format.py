"""credentials: the layout of each stored signed document (document_format); none marks the documents issued with
a two-entry credentialStatus, which the service signs again with one (issuing/restatus.py)

Revision ID: credentials_0005
Revises: credentials_0004
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "credentials_0005"
down_revision = "credentials_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credentials") as batch:
        batch.add_column(sa.Column("document_format", sa.Integer(), nullable=True))
    op.create_index("ix_credentials_document_format", "credentials", ["document_format"])


def downgrade() -> None:
    op.drop_index("ix_credentials_document_format", table_name="credentials")
    with op.batch_alter_table("credentials") as batch:
        batch.drop_column("document_format")
