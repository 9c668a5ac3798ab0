"""The printable diploma (bằng tốt nghiệp / chứng chỉ): an A4 landscape PDF with the diploma fields in Vietnamese
(DejaVu Sans, which covers Vietnamese, is embedded) and a QR code of the public verification address. The QR code
is drawn as vector squares from the QR matrix (no image) and is also a link to that address."""

from __future__ import annotations

from typing import Any

import segno

from services.common.fonts import FONTS

#: quiet zone around the QR symbol, in modules (the QR standard asks for 4)
QR_BORDER = 4


def qr_matrix(payload: str) -> list[list[bool]]:
    """The QR symbol of ``payload`` (error correction M, quiet zone included): rows of modules, True = dark."""
    qr = segno.make(payload, error="m", micro=False)
    return [[bool(v) for v in row] for row in qr.matrix_iter(scale=1, border=QR_BORDER)]


def _draw_qr(out: Any, matrix: list[list[bool]], x: float, y: float, size: float) -> None:
    module = size / len(matrix)
    for r, row in enumerate(matrix):
        c = 0
        while c < len(row):
            if not row[c]:
                c += 1
                continue
            start = c
            while c < len(row) and row[c]:
                c += 1
            # one rectangle per run of dark modules keeps the file small
            out.rect(x + start * module, y + r * module, (c - start) * module, module, style="F")


def render(view: dict[str, Any], verify_url: str) -> bytes:
    """``view``: the diploma's fields, already in Vietnamese (see :func:`fields_of`)."""
    from fpdf import FPDF

    out = FPDF(orientation="L", unit="mm", format="A4")
    out.set_title(f"{view['title']} - {view['holder_name']}")
    out.set_author(view.get("institution") or "")
    out.set_creator("Nền tảng số giáo dục nghề nghiệp quốc gia")
    out.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
    out.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    out.set_auto_page_break(False)
    out.add_page()
    out.set_draw_color(140, 20, 20)
    out.set_line_width(1.2)
    out.rect(8, 8, 281, 194)
    out.set_line_width(0.4)
    out.rect(11, 11, 275, 188)

    out.set_xy(15, 16)
    out.set_font("DejaVu", "B", 11)
    out.cell(130, 6, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", align="C")
    out.set_xy(15, 22)
    out.set_font("DejaVu", "", 10)
    out.cell(130, 6, "Độc lập - Tự do - Hạnh phúc", align="C")
    out.set_xy(150, 16)
    out.set_font("DejaVu", "B", 11)
    out.multi_cell(130, 6, (view.get("institution") or "").upper(), align="C")

    out.set_xy(15, 40)
    out.set_font("DejaVu", "B", 22)
    out.set_text_color(140, 20, 20)
    out.cell(267, 12, view["heading"].upper(), align="C")
    out.set_text_color(0, 0, 0)
    out.set_xy(15, 53)
    out.set_font("DejaVu", "", 11)
    out.cell(267, 6, view["heading_en"], align="C")

    rows: list[tuple[str, Any]] = [
        ("Cấp cho / Awarded to", view["holder_name"]),
        ("Ngày sinh / Date of birth", view.get("birth_date")),
        ("Giới tính / Gender", view.get("gender")),
        ("Nơi sinh / Place of birth", view.get("birth_place")),
        ("Ngành, nghề / Occupation", view.get("achievement")),
        ("Mã ngành, nghề / Occupation code", view.get("occupation_code")),
        ("Năm tốt nghiệp / Graduation year", view.get("graduation_year")),
        ("Hình thức đào tạo / Mode", view.get("mode")),
        ("Xếp loại tốt nghiệp / Classification", view.get("classification")),
    ]
    y = 66.0
    for label, value in rows:
        if value in (None, ""):
            continue
        out.set_xy(22, y)
        out.set_font("DejaVu", "", 11)
        out.cell(78, 7, f"{label}:")
        out.set_font("DejaVu", "B", 12)
        out.cell(110, 7, str(value))
        y += 8

    out.set_xy(22, 150)
    out.set_font("DejaVu", "", 10)
    out.cell(90, 6, f"Số hiệu / Serial No.: {view.get('serial_number') or ''}")
    out.set_xy(22, 157)
    out.cell(90, 6, f"Số vào sổ cấp văn bằng / Register No.: {view.get('register_number') or ''}")

    out.set_xy(150, 140)
    out.set_font("DejaVu", "", 11)
    place_date = ", ".join(v for v in (view.get("issue_place"), view.get("issue_date_vi")) if v)
    out.cell(130, 6, place_date, align="C")
    if view.get("signer_title"):
        out.set_xy(150, 147)
        out.set_font("DejaVu", "B", 11)
        out.cell(130, 6, str(view["signer_title"]).upper(), align="C")
    if view.get("signer_name"):
        out.set_xy(150, 178)
        out.set_font("DejaVu", "B", 12)
        out.cell(130, 6, str(view["signer_name"]), align="C")

    qr_size, qr_x, qr_y = 38.0, 108.0, 140.0
    _draw_qr(out, qr_matrix(verify_url), qr_x, qr_y, qr_size)
    out.link(qr_x, qr_y, qr_size, qr_size, verify_url)
    out.set_xy(15, 181)
    out.set_font("DejaVu", "", 7)
    out.cell(267, 4, "Quét mã QR để xác thực văn bằng / Scan the QR code to verify this credential:", align="C")
    out.set_xy(15, 185)
    out.cell(267, 4, verify_url, align="C", link=verify_url)
    out.set_xy(15, 190)
    out.cell(267, 4, f"Mã văn bằng số / Credential ID: {view.get('credential_id')}", align="C")
    return bytes(out.output())


def fields_of(document: dict[str, Any], *, credential_id: str, heading: tuple[str, str]) -> dict[str, Any]:
    """The printed fields, read from the signed credential (what is printed is what was signed)."""
    subject = document.get("credentialSubject") or {}
    achievement = subject.get("achievement") or {}
    issuer = document.get("issuer") or {}
    signer = document.get("signer") or {}
    issue_date = document.get("issueDate")
    issue_date_vi = None
    if isinstance(issue_date, str) and len(issue_date) == 10:
        y, m, d = issue_date.split("-")
        issue_date_vi = f"ngày {int(d)} tháng {int(m)} năm {y}"
    birth = subject.get("birthDate")
    if isinstance(birth, str) and len(birth) == 10:
        birth = "/".join(reversed(birth.split("-")))
    return {
        "credential_id": credential_id,
        "title": document.get("name") or heading[0],
        "heading": heading[0],
        "heading_en": heading[1],
        "institution": issuer.get("name") if isinstance(issuer, dict) else None,
        "holder_name": subject.get("name") or "",
        "birth_date": birth,
        "gender": subject.get("gender"),
        "birth_place": subject.get("birthPlace"),
        "achievement": achievement.get("fieldOfStudy") or achievement.get("name"),
        "occupation_code": achievement.get("occupationCode"),
        "graduation_year": subject.get("graduationYear"),
        "mode": subject.get("trainingMode"),
        "classification": subject.get("classification"),
        "serial_number": document.get("serialNumber"),
        "register_number": document.get("registerNumber"),
        "issue_place": document.get("issuePlace"),
        "issue_date_vi": issue_date_vi,
        "signer_name": signer.get("name") if isinstance(signer, dict) else None,
        "signer_title": signer.get("jobTitle") if isinstance(signer, dict) else None,
    }
