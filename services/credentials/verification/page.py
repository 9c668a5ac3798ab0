"""The verification page a diploma's QR code opens: holder, diploma, institution and status, in Vietnamese and
English. Plain HTML, escaped, no scripts — and a Content-Security-Policy that would refuse any (only the page's
own style sheet, by hash), no framing (clickjacking), no MIME sniffing: :func:`html_response`."""

from __future__ import annotations

import base64
import hashlib
from html import escape

from fastapi.responses import HTMLResponse

from services.credentials.verification.schemas import LookupResult

OUTCOMES = {
    "valid": ("Hợp lệ", "Valid", "#1b7f3b"),
    "revoked": ("Đã bị thu hồi", "Revoked", "#b00020"),
    "suspended": ("Đang bị tạm đình chỉ", "Suspended", "#b26a00"),
    "tampered": ("Chữ ký không hợp lệ", "Signature not valid", "#b00020"),
    "unknown_issuer": ("Không rõ đơn vị cấp", "Unknown issuer", "#b00020"),
    "issuer_inactive": ("Đơn vị cấp không còn hoạt động khi cấp", "Issuer not active at issue date", "#b00020"),
    "expired": ("Đã hết hạn", "Expired", "#b26a00"),
    "not_yet_valid": ("Chưa có hiệu lực", "Not yet valid", "#b26a00"),
    "status_unavailable": ("Chưa kiểm tra được trạng thái", "Status unavailable", "#b26a00"),
    "malformed": ("Văn bằng không đúng định dạng", "Malformed credential", "#b00020"),
}
CHECKS = {
    "structure": ("Cấu trúc", "Structure"),
    "issuer": ("Đơn vị cấp", "Issuer"),
    "signature": ("Chữ ký số", "Digital signature"),
    "validity": ("Thời hạn hiệu lực", "Validity period"),
    "revocation": ("Thu hồi", "Revocation"),
    "suspension": ("Tạm đình chỉ", "Suspension"),
}

_STYLE = """body{font-family:system-ui,'Segoe UI',Roboto,Arial,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#222}
.badge{display:inline-block;padding:.4rem .9rem;border-radius:.4rem;color:#fff;font-weight:600}
table{border-collapse:collapse;width:100%;margin:1rem 0}td,th{border-bottom:1px solid #ddd;padding:.45rem;text-align:left;vertical-align:top}
th{width:40%;font-weight:500;color:#555}.en{color:#666;font-size:.9em}
.bg-1b7f3b{background:#1b7f3b}.bg-b00020{background:#b00020}.bg-b26a00{background:#b26a00}.bg-555{background:#555}"""

#: the page's only resource is its inline style sheet, allowed by its hash; nothing else loads, runs or frames it
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; "
    f"style-src 'sha256-{base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()}'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def html_response(html: str, *, status_code: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    """The page with its security headers."""
    return HTMLResponse(html, status_code=status_code, headers=(headers or {}) | SECURITY_HEADERS)


def _row(vi: str, en: str, value: object) -> str:
    if value in (None, ""):
        return ""
    return f"<tr><th>{escape(vi)} <span class=en>/ {escape(en)}</span></th><td>{escape(str(value))}</td></tr>"


def render(result: LookupResult, *, status_reason: str | None = None) -> str:
    vi, en, colour = OUTCOMES.get(result.outcome, (result.outcome, result.outcome, "#555"))
    c = result.credential
    rows = ""
    if c is not None:
        rows = "".join([
            _row("Văn bằng, chứng chỉ", "Credential", c.title),
            _row("Họ và tên", "Holder", c.holder_name),
            _row("Ngày sinh", "Date of birth", c.birth_date),
            _row("Đơn vị cấp", "Issued by", c.institution),
            _row("Năm tốt nghiệp", "Graduation year", c.graduation_year),
            _row("Xếp loại", "Classification", c.classification),
            _row("Số hiệu", "Serial number", c.serial_number),
            _row("Số vào sổ cấp", "Register number", c.register_number),
            _row("Ngày cấp", "Date of issue", c.issued),
        ])
    if result.outcome != "valid" and status_reason:
        rows += _row("Lý do", "Reason", status_reason)
    if result.superseded_by:
        rows += _row("Đã được thay thế bởi", "Superseded by", str(result.superseded_by))
    checks = "".join(
        f"<tr><th>{escape(CHECKS[ch.check][0])} <span class=en>/ {escape(CHECKS[ch.check][1])}</span></th><td>"
        + ("✔ đạt / passed" if ch.passed else "— không áp dụng / not applicable" if ch.passed is None else
           f"✘ {escape(ch.problem.title if ch.problem else 'failed')}: {escape(ch.problem.detail if ch.problem else '')}")
        + "</td></tr>"
        for ch in result.checks
    )
    return f"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Xác thực văn bằng / Credential verification</title><style>{_STYLE}</style></head>
<body><h1>Xác thực văn bằng, chứng chỉ <span class=en>/ Credential verification</span></h1>
<p><span class="badge bg-{colour.lstrip('#')}">{escape(vi)} / {escape(en)}</span></p>
<table>{rows}</table>
<h2>Các bước kiểm tra <span class=en>/ Checks</span></h2><table>{checks}</table>
<p class=en>Nền tảng số giáo dục nghề nghiệp quốc gia — National VET digital platform. W3C Verifiable Credential 2.0,
Open Badges 3.0, eddsa-rdfc-2022.</p></body></html>"""


def not_found(credential_id: str) -> str:
    return f"""<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>Không tìm thấy / Not found</title>
<style>{_STYLE}</style></head><body><h1>Không tìm thấy văn bằng <span class=en>/ Credential not found</span></h1>
<p>{escape(credential_id)}</p></body></html>"""
