"""A credential list's page is written straight from its rows (no model per row): the bytes must be those the
response model ``Page[CredentialSummary]`` would write, Vietnamese text, quotes and backslashes included."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from services.common.pagination import Page
from services.credentials.issuing.repository import SummaryRow
from services.credentials.issuing.schemas import CredentialSummary
from services.credentials.issuing.service import summaries_json


def row(title: str, issued_at: datetime) -> SummaryRow:
    return SummaryRow(id=uuid.uuid4(), institution_code="CD0101", kind="diploma", title=title, holder_name="Nguyễn Thị Ánh",
                      award_year=2026, status="suspended", issued_at=issued_at, created_at=datetime.now(UTC))


def test_a_page_written_from_rows_is_the_response_models_json() -> None:
    rows = [row('Bằng "tốt nghiệp" cao đẳng \\ nghề\n', datetime(2026, 12, 6, 8, 30, 0, 123456, tzinfo=UTC)),
            row("Chứng chỉ kỹ năng mềm", datetime(2026, 1, 1, tzinfo=UTC))]
    for items, cursor in ((rows, "eyJrIjpbXX0"), (rows[:1], None), ([], None)):
        expected = Page[CredentialSummary](items=[CredentialSummary.model_validate(r._asdict()) for r in items], next_cursor=cursor).model_dump_json().encode()
        assert summaries_json(items, cursor) == expected
