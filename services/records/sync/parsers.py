"""Turning an upload (a file on local disk) into :class:`~services.records.sync.apply.Item` rows, streamed.

* **JSON batch**: ``{"programmes": [...], "modules": [...], "terms": [...], "cohorts": [...], "learners": [...],
  "enrolments": [...], "grades": [...]}``, applied in that order; a row is numbered by its index (from 1) in its
  list, and errors name the list as ``source``.
* **CSV**: one record type per file (``entity``), a header row, UTF-8 (a BOM is accepted); empty cells are "not
  given". Grade files carry ``id_number, programme_code, module_code, term_code`` (and optionally ``reason``)
  plus one column per assessment component (``continuous``, ``final``…). Rows are numbered by line.
* **OneRoster 1.2 CSV** (zip): see :mod:`services.records.sync.oneroster`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from services.records.sync.apply import Item
from services.records.sync.rows import ENTITIES, ORDER

MAX_JSON_ROWS = 100_000
BOOLEAN = {"true": True, "1": True, "yes": True, "có": True, "x": True, "false": False, "0": False, "no": False, "không": False, "": False}
GRADE_KEYS = {"id_number", "programme_code", "module_code", "term_code", "reason"}
BOOLEAN_COLUMNS = {"disability", "is_condition"}


class UploadError(Exception):
    """The file as a whole cannot be read (not JSON, missing header, unknown columns…)."""

    def __init__(self, field: str, message: str, row: int = 0) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.row = row


def json_items(path: Path) -> Iterator[Item]:
    try:
        with path.open("rb") as f:
            doc = json.load(f)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UploadError("body", f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise UploadError("body", "a batch is a JSON object with lists of records")
    unknown = sorted(set(doc) - set(ORDER))
    if unknown:
        raise UploadError(unknown[0], f"unknown record type (expected some of {', '.join(ORDER)})")
    total = sum(len(v) if isinstance(v, list) else 0 for v in doc.values())
    if total > MAX_JSON_ROWS:
        raise UploadError("body", f"at most {MAX_JSON_ROWS} rows per JSON batch; use CSV for more")
    seq = 0
    for entity in ORDER:
        rows = doc.get(entity) or []
        if not isinstance(rows, list):
            raise UploadError(entity, "must be a list")
        for i, data in enumerate(rows, start=1):
            seq += 1
            if isinstance(data, dict):
                yield Item(seq, i, entity, entity, data)
            else:
                yield Item(seq, i, entity, entity, None, errors=[("row", "must be an object")])


def csv_items(path: Path, entity: str) -> Iterator[Item]:
    if entity not in ENTITIES or entity == "programmes" and False:
        raise UploadError("entity", f"unknown record type {entity!r}")
    schema = ENTITIES[entity]
    allowed = set(schema.model_fields) - {"modules", "components", "weights"}
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader, None) or []
        except UnicodeDecodeError:
            raise UploadError("file", "not UTF-8 text") from None
        except csv.Error as exc:
            raise UploadError("file", f"broken CSV at line {reader.line_num}: {exc}") from None
        if not header:
            raise UploadError("header", "the file is empty", row=1)
        columns = [h.strip() for h in header]
        if entity != "grades":
            unknown = [c for c in columns if c not in allowed and not c.startswith("weight.")]
            if unknown:
                raise UploadError(unknown[0], "unknown column", row=1)
        required = [n for n, fi in schema.model_fields.items() if fi.is_required() and n in allowed]
        missing = [c for c in required if c not in columns]
        if missing:
            raise UploadError(missing[0], "missing column", row=1)
        # what each column is: a field of the row (a yes/no one among them), a component score (grades), or a weight
        fields = [(i, c) for i, c in enumerate(columns)
                  if not c.startswith("weight.") and (entity != "grades" or c in GRADE_KEYS) and c not in BOOLEAN_COLUMNS]
        flags = [(i, c) for i, c in enumerate(columns) if c in BOOLEAN_COLUMNS and entity != "grades"]
        components = [(i, c) for i, c in enumerate(columns) if entity == "grades" and c not in GRADE_KEYS]
        weights = [(i, c[7:]) for i, c in enumerate(columns) if c.startswith("weight.") and entity != "grades"]
        width = len(columns)
        padding = [""] * width
        seq = 0
        try:
            for cells in reader:
                if not cells:
                    continue  # a blank line is no row
                seq += 1
                line = reader.line_num
                n = len(cells)
                if n != width:
                    if n > width:
                        yield Item(seq, line, entity, entity, None, errors=[("row", "more cells than header columns")])
                        continue
                    cells = cells + padding[n:]  # cells missing at the end: not given
                data: dict[str, Any] = {c: v for i, c in fields if (v := cells[i].strip())}
                for i, c in flags:
                    if v := cells[i].strip():
                        data[c] = BOOLEAN.get(v.lower(), v)
                if components:
                    data["components"] = {c: v for i, c in components if (v := cells[i].strip())}
                if weights and (given := {c: v for i, c in weights if (v := cells[i].strip())}):
                    data["weights"] = given
                yield Item(seq, line, entity, entity, data)
        except UnicodeDecodeError:
            raise UploadError("file", f"not UTF-8 text (after line {reader.line_num})") from None
        except csv.Error as exc:
            raise UploadError("file", f"broken CSV at line {reader.line_num}: {exc}") from None


def count_rows(path: Path, fmt: str, entity: str | None) -> int | None:
    """Rows in an upload, for progress; None when counting would mean parsing twice (JSON, zip)."""
    if fmt != "csv":
        return None
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            return max(0, sum(1 for _ in csv.reader(f)) - 1)
    except (UnicodeDecodeError, csv.Error):
        return None
