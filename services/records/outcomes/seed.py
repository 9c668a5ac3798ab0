"""Demo learning outcomes for ``make run``: the two demo programmes in automotive technology (CD0101's OTO-CD-2025,
whose outcomes integrate digital competence — diagnosing with digital tools — and CD7902's CKOTO-CD-2027, whose do
not yet), so national oversight's ``outcomes_digital_share`` has something to compute (half the programmes: behind
Decision 2222's 70%). Put through the same code as ``PUT …/outcomes``; a second run changes nothing."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.records.outcomes import repository, service
from services.records.outcomes.schemas import OutcomeIn, OutcomesIn

DEMO_OUTCOMES: dict[tuple[str, str], list[OutcomeIn]] = {
    ("CD0101", "OTO-CD-2025"): [
        OutcomeIn(code="KT1", text="Trình bày được cấu tạo và nguyên lý làm việc của động cơ, hệ thống điện và khung gầm ô tô",
                  vqf_level=5),
        OutcomeIn(code="KN1", text="Chẩn đoán hư hỏng ô tô bằng máy chẩn đoán và phần mềm tra cứu dữ liệu kỹ thuật số",
                  vqf_level=5, digital_competence=True),
        OutcomeIn(code="KN2", text="Bảo dưỡng, sửa chữa động cơ đốt trong đúng quy trình", vqf_level=5, module_code="OTO101"),
        OutcomeIn(code="TC1", text="Tự chủ trong công việc, chịu trách nhiệm về kết quả và an toàn lao động", vqf_level=5),
    ],
    ("CD7902", "CKOTO-CD-2027"): [
        OutcomeIn(code="KT1", text="Trình bày được nguyên lý động cơ đốt trong và hệ thống điện – điện tử ô tô", vqf_level=5),
        OutcomeIn(code="KN1", text="Bảo dưỡng, sửa chữa khung gầm ô tô", vqf_level=5, module_code="OTO203"),
    ],
}


async def seed_outcomes(session: AsyncSession) -> list[str]:
    done = []
    for (institution, code), outcomes in DEMO_OUTCOMES.items():
        p = await repository.programme(session, institution, code)
        if p is None:
            continue
        _, changed = await service.put_outcomes(session, p, OutcomesIn(outcomes=outcomes))
        if changed:
            done.append(f"learning outcomes of {institution}/{code}")
    return done
