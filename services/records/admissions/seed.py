"""Demo data of admissions for ``make run`` (development only, idempotent): a college programme at CD7902 (Trường
Cao đẳng Kỹ thuật Cao Thắng, TP Hồ Chí Minh) and its 2027 intake — open all of 2026 and until September 2027, 40
places, an average of at least 5.0 with a mathematics result. ``demo/pathways.py`` pushes a secondary school's
cohort, signs a citizen in with VNeID and takes her application to enrolment against it."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.records.admissions import repository
from services.records.models import Intake
from services.records.sync.apply import apply_chunk
from services.records.sync.items import Item
from services.records.workspace.service import Workspace

INSTITUTION = "CD7902"
PROGRAMME: dict[str, Any] = {
    "code": "CKOTO-CD-2027", "name": "Công nghệ kỹ thuật ô tô", "level": "college", "occupation_code": "6510216", "year": 2027,
    "modules": [
        {"code": "OTO201", "name": "Động cơ đốt trong", "credits": 4},
        {"code": "OTO202", "name": "Điện – điện tử ô tô", "credits": 3},
        {"code": "OTO203", "name": "Khung gầm ô tô", "credits": 3},
    ],
}
INTAKE: dict[str, Any] = {
    "code": "TS2027-CKOTO", "programme_code": PROGRAMME["code"], "name": "Tuyển sinh cao đẳng Công nghệ kỹ thuật ô tô 2027",
    "year": 2027, "capacity": 40, "opens_on": date(2026, 1, 1), "closes_on": date(2027, 9, 30),
    "criteria": {"min_average": "5.0", "required_subjects": ["toan"]},
}


async def seed_admissions(session: AsyncSession) -> list[str]:
    done: list[str] = []
    ws = Workspace(session, INSTITUTION, actor="seed", source="seed")
    [outcome] = await apply_chunk(ws, [Item(1, 1, "seed", "programmes", dict(PROGRAMME))])
    if outcome.result == "rejected":
        raise RuntimeError(f"the admissions demo programme was refused: {outcome.errors}")
    if outcome.result in ("created", "updated"):
        done.append(f"programme {INSTITUTION}/{PROGRAMME['code']} ({outcome.result})")
    values = {k: v for k, v in INTAKE.items() if k != "code"}
    intake = await repository.intake_by_code(session, INSTITUTION, INTAKE["code"])
    if intake is None:
        session.add(Intake(id=uuid.uuid4(), institution_code=INSTITUTION, code=INTAKE["code"], **values))
        done.append(f"intake {INSTITUTION}/{INTAKE['code']} (created)")
    elif any(getattr(intake, k) != v for k, v in values.items()):
        for k, v in values.items():
            setattr(intake, k, v)
        done.append(f"intake {INSTITUTION}/{INTAKE['code']} (updated)")
    await session.flush()
    return done
