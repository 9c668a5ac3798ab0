"""Demo data of national oversight for ``make run`` (development only, idempotent):

* the targets of ``data/targets.csv`` — Decisions 2222/QĐ-TTg and 123/QĐ-LĐTBXH, and the provincial plans of Hà Nội
  (2025), Hải Phòng (2025 and 2030) and Quảng Nam (2025, 2030), as their texts state them;
* a sync history for four demo schools (finished jobs over the past weeks, marked ``created_by="seed (demo
  history)"``): CD0101, CD3101 and CD7902 synced recently, CD4801 two months ago (so it shows as not connected);
* a few values an officer would enter and earlier years' snapshots, marked as demo values, so the trend lines have
  something to draw. None of these numbers are real statistics."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.records.models import IndicatorSnapshot, IndicatorValue, SyncJob
from services.records.oversight import service
from services.records.oversight.schemas import TargetCreate

TARGETS = Path(__file__).resolve().parents[1] / "data" / "targets.csv"
SEED_ACTOR = "seed"
HISTORY_ACTOR = "seed (demo history)"
#: (institution, days ago, rows read, rows rejected)
DEMO_JOBS = [
    ("CD0101", 40, 1200, 14), ("CD0101", 26, 860, 3), ("CD0101", 12, 940, 0), ("CD0101", 3, 410, 2),
    ("CD3101", 33, 2300, 40), ("CD3101", 19, 1750, 12), ("CD3101", 5, 1980, 0),
    ("CD7902", 21, 640, 0), ("CD7902", 9, 720, 6), ("CD7902", 1, 300, 0),
    ("CD4801", 62, 1500, 25),
]
#: (indicator, province, year, value): values "entered" for the demo
DEMO_VALUES = [
    ("trained_labour_share", "001", 2023, 0.715), ("trained_labour_share", "001", 2024, 0.73),
    ("trained_labour_share", "001", 2025, 0.742), ("it_skills_share", "031", 2024, 0.74), ("it_skills_share", "031", 2025, 0.77),
]
#: (indicator, province, year, value): earlier years' state, as a pull would have kept it
DEMO_SNAPSHOTS = [
    ("connected_share", "", 2023, 0.1), ("connected_share", "", 2024, 0.2), ("connected_share", "", 2025, 0.3),
    ("teachers_digital_trained_share", "", 2024, 0.05), ("teachers_digital_trained_share", "", 2025, 0.08),
    ("soft_skills_coverage", "", 2024, 0.1), ("soft_skills_coverage", "", 2025, 0.2),
    ("outcomes_digital_share", "", 2024, 0.41), ("outcomes_digital_share", "", 2025, 0.56),
]


def targets_from_file(path: Path = TARGETS) -> list[TargetCreate]:
    with path.open(encoding="utf-8") as f:
        return [TargetCreate.model_validate({
            "source_decision": r["source_decision"], "indicator": r["indicator"], "province_code": r["province_code"] or None,
            "institution_type": r["institution_type"] or None, "year": int(r["year"]), "value": float(r["value"]),
            "note": r["note"] or None}) for r in csv.DictReader(f)]


async def seed_oversight(session: AsyncSession, now: datetime) -> list[str]:
    created: list[str] = []
    nobody = Principal(sub=SEED_ACTOR, kind="client", scopes=frozenset())
    n = 0
    for body in targets_from_file():
        _, new = await service.create_target(session, nobody, body, now=now, who=SEED_ACTOR)
        n += new
    if n:
        created.append(f"{n} target(s) from data/targets.csv")
    if await session.scalar(select(SyncJob.id).where(SyncJob.created_by == HISTORY_ACTOR).limit(1)) is None:
        for code, days, rows, rejected in DEMO_JOBS:
            at = now - timedelta(days=days)
            session.add(SyncJob(institution_code=code, format="json", mode="accept_valid", status="succeeded" if not rejected
                                else "completed_with_errors", object_key=f"records/sync/{code}/demo-history",
                                upload_deleted_at=at, rows_total=rows, rows_read=rows, created=rows - rejected,
                                rejected=rejected, applied_through=rows, created_by=HISTORY_ACTOR, created_at=at,
                                updated_at=at, started_at=at, finished_at=at + timedelta(minutes=2)))
        created.append(f"{len(DEMO_JOBS)} demo sync job(s)")
    for indicator, province, year, value in DEMO_VALUES:
        exists = await session.scalar(select(IndicatorValue.id).where(
            IndicatorValue.indicator == indicator, IndicatorValue.province_code == province, IndicatorValue.year == year))
        if exists is None:
            session.add(IndicatorValue(indicator=indicator, province_code=province, year=year, value=value,
                                       note="demo value", entered_by=SEED_ACTOR, entered_at=now, created_at=now, updated_at=now))
            created.append(f"demo value {indicator} {province or 'national'} {year}")
    for indicator, province, year, value in DEMO_SNAPSHOTS:
        if await session.get(IndicatorSnapshot, (indicator, province, year)) is None:
            session.add(IndicatorSnapshot(indicator=indicator, province_code=province, year=year, value=value, computed_at=now))
    return created
