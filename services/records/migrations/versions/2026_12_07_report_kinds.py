"""records: report kinds on the report calendar (data): the yearly reports of institutions (to the province's
labour department) and of provinces (to the ministry), due 15 December

Revision ID: records_0010
Revises: records_0009
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "records_0010"
down_revision = "records_0009"
branch_labels = None
depends_on = None

DEFAULT_KINDS = [
    {"code": "institution-yearly", "name": "Báo cáo năm của cơ sở giáo dục nghề nghiệp", "scope": "institution",
     "filed_by": "cơ sở GDNN (quản trị trường hoặc hệ thống của trường)", "received_by": "Sở LĐTBXH của tỉnh",
     "due_month": 12, "due_day": 15, "first_year": 2024, "active": True,
     "basis": "Quyết định 123/QĐ-LĐTBXH; kế hoạch GDNN của các tỉnh (báo cáo trước 15/12 hằng năm)"},
    {"code": "province-yearly", "name": "Báo cáo năm của tỉnh về giáo dục nghề nghiệp", "scope": "province",
     "filed_by": "Sở LĐTBXH", "received_by": "Bộ (hệ thống báo cáo Chính phủ)", "due_month": 12, "due_day": 15,
     "first_year": 2024, "active": True,
     "basis": "Quyết định 2222/QĐ-TTg: 100% báo cáo định kỳ thực hiện số và chia sẻ với hệ thống báo cáo Chính phủ"},
]


def upgrade() -> None:
    table = op.create_table(
        "report_kinds",
        sa.Column("code", sa.String(50), primary_key=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("scope", sa.String(20), nullable=False),
        sa.Column("filed_by", sa.String(200), nullable=False),
        sa.Column("received_by", sa.String(200), nullable=False),
        sa.Column("due_month", sa.Integer(), nullable=False),
        sa.Column("due_day", sa.Integer(), nullable=False),
        sa.Column("first_year", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("basis", sa.String(300), nullable=True),
    )
    op.bulk_insert(table, DEFAULT_KINDS)


def downgrade() -> None:
    op.drop_table("report_kinds")
