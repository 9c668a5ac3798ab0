"""Bảng điểm: a learner's transcript for one enrolment, as JSON and as a PDF with a bundled Unicode font (DejaVu
Sans covers Vietnamese), so names like "Nguyễn Thị Hồng Nhung" render correctly."""

from __future__ import annotations

from typing import Any

from services.common.fonts import FONTS
from services.records.grades.service import EnrolmentRecord
from services.records.grading.scores import dec
from services.records.models import InstitutionRef, Learner

MODES = {"full_time": "Chính quy", "work_study": "Vừa làm vừa học"}
#: how a recognised module is marked on the transcript
RECOGNISED = "công nhận"
LEVELS = {"elementary": "Sơ cấp", "intermediate": "Trung cấp", "college": "Cao đẳng", "short_course": "Đào tạo thường xuyên"}


def transcript(inst: InstitutionRef, learner: Learner, rec: EnrolmentRecord, id_number: str) -> dict[str, Any]:
    e, p, st = rec.enrolment, rec.programme, rec.standing
    return {
        "institution": {"code": inst.code, "name": inst.name},
        "learner": {
            "id": str(learner.id), "full_name": learner.full_name, "id_number": id_number,
            "date_of_birth": learner.date_of_birth.isoformat() if learner.date_of_birth else None,
            "sex": learner.sex, "birth_place": learner.birth_place,
        },
        "programme": {"code": p.code, "name": p.name, "level": p.level, "occupation_code": p.occupation_code, "year": p.year,
                      "grading_policy": rec.policy.code,
                      "credits": sum(m.credits for m in rec.modules.values() if not m.is_condition)},
        "enrolment": {"id": str(e.id), "status": e.status, "mode": e.mode,
                      "enrolled_on": e.enrolled_on.isoformat() if e.enrolled_on else None,
                      "graduated_on": e.graduated_on.isoformat() if e.graduated_on else None,
                      "decision_number": e.decision_number},
        "sittings": [
            {"term": t.code, "module_code": m.code, "module_name": m.name, "credits": m.credits, "is_condition": m.is_condition,
             "components": dict(g.components), "score": dec(g.score), "letter": g.letter, "points": dec(g.points), "passed": g.passed}
            for g, m, t in rec.grades
        ],
        "results": [
            {"module_code": r.module_code, "module_name": rec.modules[r.module_code].name if r.module_code in rec.modules else r.module_code,
             "credits": r.credits, "is_condition": r.is_condition, "score": dec(r.score) if r.score is not None else None,
             "letter": r.letter, "points": dec(r.points) if r.points is not None else None,
             "passed": r.passed, "attempts": r.attempts,
             # công nhận: recognised from prior learning, counted toward graduation, in the GPA only if its rule said so
             "recognition": {"label": RECOGNISED, "source": r.recognised, "in_gpa": r.in_gpa} if r.recognised else None}
            for r in sorted(st.results.values(), key=lambda x: x.module_code)
        ],
        "term_gpa": rec.term_gpas,
        "gpa": str(st.gpa) if st.gpa is not None else None,
        "credits_earned": st.credits_earned,
        "graduation": {
            "eligible": st.eligible,
            "classification": st.classification.key if st.classification else None,
            "classification_label": st.classification.label if st.classification else None,
            "reasons": list(st.reasons),
        },
    }


def pdf(doc: dict[str, Any]) -> bytes:
    from fpdf import FPDF

    out = FPDF(orientation="P", unit="mm", format="A4")
    out.set_title(f"Bảng điểm - {doc['learner']['full_name']}")
    out.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
    out.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    out.add_page()
    out.set_font("DejaVu", "B", 11)
    out.cell(0, 6, doc["institution"]["name"], new_x="LMARGIN", new_y="NEXT")
    out.set_font("DejaVu", "B", 16)
    out.cell(0, 12, "BẢNG ĐIỂM HỌC TẬP", align="C", new_x="LMARGIN", new_y="NEXT")
    out.set_font("DejaVu", "", 10)
    learner, programme = doc["learner"], doc["programme"]
    sex = {"male": "Nam", "female": "Nữ"}.get(learner.get("sex") or "", "")
    for label, value in [
        ("Họ và tên", learner["full_name"]), ("Ngày sinh", learner.get("date_of_birth") or ""), ("Giới tính", sex),
        ("Nơi sinh", learner.get("birth_place") or ""), ("Số định danh", learner["id_number"]),
        ("Ngành, nghề", f"{programme['name']} ({programme.get('occupation_code') or ''})"),
        ("Trình độ", LEVELS.get(programme["level"], programme["level"])),
        ("Hình thức đào tạo", MODES.get(doc["enrolment"]["mode"], doc["enrolment"]["mode"])),
    ]:
        out.cell(45, 6, f"{label}:")
        out.cell(0, 6, str(value), new_x="LMARGIN", new_y="NEXT")
    out.ln(3)
    widths = [25, 75, 18, 18, 16, 18]
    out.set_font("DejaVu", "B", 9)
    for w, h in zip(widths, ["Mã", "Mô-đun / môn học", "Tín chỉ", "Điểm", "Chữ", "Thang 4"], strict=True):
        out.cell(w, 7, h, border=1, align="C")
    out.ln()
    out.set_font("DejaVu", "", 9)
    for r in doc["results"]:
        name = r["module_name"] + (" (điều kiện)" if r["is_condition"] else "")
        if r.get("recognition"):
            name += " (công nhận)"
        cells = [r["module_code"], name[:48], str(r["credits"]), r["score"] or RECOGNISED, r["letter"] or "", r["points"] or ""]
        for w, v, a in zip(widths, cells, "LLCCCC", strict=True):
            out.cell(w, 6, v, border=1, align=a)
        out.ln()
    out.ln(3)
    out.set_font("DejaVu", "B", 10)
    out.cell(0, 6, f"Điểm trung bình chung tích lũy (thang 4): {doc['gpa'] or '-'}", new_x="LMARGIN", new_y="NEXT")
    out.cell(0, 6, f"Số tín chỉ tích lũy: {doc['credits_earned']}", new_x="LMARGIN", new_y="NEXT")
    grad = doc["graduation"]
    if grad["classification_label"]:
        out.cell(0, 6, f"Xếp loại tốt nghiệp: {grad['classification_label']}", new_x="LMARGIN", new_y="NEXT")
    return bytes(out.output())
