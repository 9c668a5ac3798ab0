"""Demo data for ``make run``: the programme the records demo's school (CD0101) syncs its learners and grades into
(and the oversight, admissions and learning-outcomes demo data: :mod:`services.records.oversight.seed`,
:mod:`services.records.admissions.seed`, :mod:`services.records.outcomes.seed`).

A school's programmes (chương trình đào tạo) come from its JSON/CSV sync; a OneRoster zip names them but cannot
create them (``metadata.vn.programmeCode`` on its courses). The demo therefore starts with the programme in place:
"Công nghệ ô tô" at college level (occupation 6510216), four modules, one of them a condition module. The demo
files that go with it are in ``demo/records/``. Loaded through the same code path as a school's sync (audited
in the change feed as ``seed``). Idempotent: a second run changes nothing. Never in production.

Run on its own with ``python -m services.records.seed`` (it reads the ``RECORDS_`` settings)."""

from __future__ import annotations

import asyncio
from typing import Any

from services.common.db import Database, utcnow
from services.records.admissions.seed import seed_admissions
from services.records.catalogue.service import load_occupations
from services.records.config import RecordsSettings
from services.records.outcomes.seed import seed_outcomes
from services.records.oversight.seed import seed_oversight
from services.records.sync.apply import apply_chunk
from services.records.sync.items import Item
from services.records.workspace.service import Workspace

DEMO_INSTITUTION = "CD0101"
DEMO_PROGRAMME: dict[str, Any] = {
    "code": "OTO-CD-2025",
    "name": "Công nghệ ô tô",
    "level": "college",
    "occupation_code": "6510216",
    "year": 2025,
    "modules": [
        {"code": "OTO101", "name": "Động cơ đốt trong", "credits": 4},
        {"code": "OTO102", "name": "Hệ thống điện thân xe", "credits": 3},
        {"code": "OTO103", "name": "Khung gầm ô tô", "credits": 3},
        {"code": "GDTC", "name": "Giáo dục thể chất", "credits": 2, "is_condition": True},
    ],
}


async def seed(settings: RecordsSettings) -> list[str]:
    """Loads the demo programme if it is missing or differs; returns what was created or updated."""
    if settings.environment == "production":
        raise RuntimeError("demo data is never loaded in production")
    db = Database(settings.database_url)
    try:
        async with db.session(write=True) as session:
            await load_occupations(session)  # the services load it on start-up; the seed runs before they start
            ws = Workspace(session, DEMO_INSTITUTION, actor="seed", source="seed")
            [outcome] = await apply_chunk(ws, [Item(1, 1, "seed", "programmes", dict(DEMO_PROGRAMME))])
            if outcome.result == "rejected":
                raise RuntimeError(f"the demo programme was refused: {outcome.errors}")
            oversight = await seed_oversight(session, utcnow())
            oversight += await seed_admissions(session)
            oversight += await seed_outcomes(session)
    finally:
        await db.dispose()
    if outcome.result in ("created", "updated"):
        oversight.insert(0, f"programme {DEMO_INSTITUTION}/{DEMO_PROGRAMME['code']} ({outcome.result})")
    return oversight


if __name__ == "__main__":
    for line in asyncio.run(seed(RecordsSettings())):
        print(f"demo data: {line}")
