"""The assessment tables the migration makes are the models' (columns, types, nullability, indexes, constraints),
on both databases: what autogenerate would find different is empty."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from services.common.models import KitBase
from services.learning.models import Base
from tests.support import UrlFactory

TABLES = {"item_banks", "assessment_items", "assessment_item_tags", "exams", "exam_candidates", "exam_attempts", "exam_responses",
          "exam_response_events", "practical_tasks", "assessor_invitations", "practical_scores", "practical_score_audit",
          "practical_evidence", "gradebooks", "gradebook_learners"}


def _tables_named(diff: object) -> set[str]:
    """The table names an autogenerate difference mentions (ops are tuples, or lists of tuples for modifications;
    they carry names, tables, columns or indexes)."""
    if isinstance(diff, (list, tuple)):
        return set().union(*(_tables_named(part) for part in diff)) if diff else set()
    if isinstance(diff, str):
        return {diff}
    table = getattr(diff, "table", None)
    return {getattr(table, "name", None) or getattr(diff, "name", None) or ""}


async def test_the_migration_makes_the_models_tables(database_factory: UrlFactory) -> None:
    url = await database_factory("learning")
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            diffs = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}),
                                                                   [Base.metadata, KitBase.metadata]))
    finally:
        await engine.dispose()
    mine = [d for d in diffs if _tables_named(d) & TABLES]
    assert mine == []
    assert TABLES <= set(Base.metadata.tables)
