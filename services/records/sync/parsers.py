"""Turning an upload (a file on local disk) into :class:`~services.records.sync.items.Item` rows, streamed.

* **JSON batch**: ``{"programmes": [...], "modules": [...], "terms": [...], "cohorts": [...], "learners": [...],
  "enrolments": [...], "grades": [...]}``, applied in that order; a row is numbered by its index (from 1) in its
  list, and errors name the list as ``source``. Parsed incrementally (``ijson``): memory is bounded by the rows in
  flight, whatever the size of the file (the upload limit bounds that).
* **CSV**: one record type per file (``entity``), a header row, UTF-8 (a BOM is accepted); empty cells are "not
  given". Grade files carry ``id_number, programme_code, module_code, term_code`` (and optionally ``reason``)
  plus one column per assessment component (``continuous``, ``final``…). Rows are numbered by line.
* **OneRoster 1.2 CSV** (zip): see :mod:`services.records.sync.oneroster`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import ijson

from services.records.sync.items import Item
from services.records.sync.rows import ENTITIES, ORDER

#: JSON events that begin a row of a list (an object, or a value that is not one, reported as a row error)
ROW_STARTS = frozenset({"start_map", "start_array", "string", "number", "boolean", "null"})
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


@dataclass(frozen=True)
class Limits:
    """What one upload may make a sync worker hold, whatever its size: checked while streaming, before any row is
    built (``RECORDS_MAX_JSON_DEPTH``, ``RECORDS_SYNC_MAX_ROW_VALUES``, ``RECORDS_SYNC_MAX_TOKEN_BYTES``,
    ``RECORDS_SYNC_ZIP_MAX_MEMBER_BYTES``, ``RECORDS_SYNC_ZIP_MAX_RATIO``)."""

    #: JSON nesting (the batch object is 1, a list 2, a row 3)
    max_depth: int = 64
    #: values inside one JSON row (its fields, a grade's components…)
    max_row_values: int = 10_000
    #: one JSON string or number, one CSV line (characters), one JSON object key (1/64 of it)
    max_token_bytes: int = 1024 * 1024
    #: one member of a OneRoster zip, uncompressed, and how many times it may expand
    max_member_bytes: int = 512 * 1024 * 1024
    max_ratio: int = 100


DEFAULT_LIMITS = Limits()
READ_BYTES = 64 * 1024
VALUES = frozenset({"string", "number", "boolean", "null", "start_map", "start_array"})


def json_outline(path: Path, limits: Limits = DEFAULT_LIMITS) -> dict[str, int]:
    """Streams once through a JSON batch, holding none of it: checks its shape (an object whose keys are record
    types, each a list, none twice) and counts the rows of each list. Raises :class:`UploadError`.

    Bounded whatever the file holds: the nesting depth, the values in one row, the length of one token (a string
    the parser would gather whole: no more than ``max_token_bytes`` is fed to it without an event coming out) —
    all checked before the parser's own state can grow with them (ijson keeps every level's path, so a deeply
    nested file costs it the square of its depth)."""
    counts: dict[str, int] = {}
    key = ""  # the record type being read
    depth = 0
    row_values = 0
    expect_list = False
    events = ijson.sendable_list()
    parser = ijson.basic_parse_coro(events, use_float=True)
    max_key = max(64, limits.max_token_bytes // 64)

    def where() -> tuple[str, int]:
        return (key, counts[key]) if depth >= 3 and key else ("body", 0)

    try:
        with path.open("rb") as f:
            quiet = 0  # bytes fed since the parser last gave an event
            first = True
            while chunk := f.read(READ_BYTES):
                parser.send(chunk)
                quiet = 0 if events else quiet + len(chunk)
                if quiet > limits.max_token_bytes:
                    field, row = where()
                    raise UploadError(field, f"a value is longer than {limits.max_token_bytes} bytes", row)
                for event, value in events:
                    if first:
                        first = False
                        if event != "start_map":
                            raise UploadError("body", "a batch is a JSON object with lists of records")
                    if event in ("start_map", "start_array"):
                        depth += 1
                        if depth > limits.max_depth:
                            field, row = where()
                            raise UploadError(field, f"nests deeper than {limits.max_depth} levels", row)
                    elif event in ("end_map", "end_array"):
                        depth -= 1
                        continue
                    elif event == "map_key" and len(value) > max_key:
                        field, row = where()
                        raise UploadError(field, f"an object key is longer than {max_key} characters", row)
                    elif event == "string" and len(value) > limits.max_token_bytes:
                        field, row = where()
                        raise UploadError(field, f"a value is longer than {limits.max_token_bytes} bytes", row)
                    opened = event in ("start_map", "start_array")
                    level = depth - 1 if opened else depth  # the container the event is in
                    if level == 1:
                        if event == "map_key":
                            if value not in ORDER:
                                raise UploadError(value, f"unknown record type (expected some of {', '.join(ORDER)})")
                            if value in counts:
                                raise UploadError(value, "given twice")
                            key, counts[value], expect_list = value, 0, True
                        elif expect_list:
                            expect_list = False
                            if event != "start_array" and event != "null":
                                raise UploadError(key, "must be a list")
                    elif level == 2:
                        if event in VALUES:
                            counts[key] += 1
                            row_values = 0
                    elif level >= 3 and event in VALUES:
                        row_values += 1
                        if row_values > limits.max_row_values:
                            raise UploadError(key, f"a row holds more than {limits.max_row_values} values", counts[key])
                del events[:]
            parser.close()
            if first:
                raise UploadError("body", "a batch is a JSON object with lists of records")
    except ijson.JSONError as exc:
        raise UploadError("body", f"not valid JSON: {_reason(exc)}") from None
    return counts


def _reason(exc: Exception) -> str:
    """The parser's reason, without the excerpt of the file it quotes (which may hold personal ID numbers)."""
    text = exc.args[0] if exc.args else ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return str(text).strip().splitlines()[0] if str(text).strip() else type(exc).__name__


def json_items(path: Path, outline: dict[str, int] | None = None) -> Iterator[Item]:
    """The rows of a JSON batch, streamed: one pass over the file per record type it holds (in :data:`ORDER`), each
    row parsed when it is reached, so memory is bounded by the rows in flight, not by the file. ``outline``: what
    :func:`json_outline` found, when the caller has it already."""
    outline = json_outline(path) if outline is None else outline
    seq = 0
    for entity in ORDER:
        if not outline.get(entity):
            continue
        try:
            with path.open("rb") as f:
                for i, data in enumerate(ijson.items(f, f"{entity}.item", use_float=True), start=1):
                    seq += 1
                    if isinstance(data, dict):
                        yield Item(seq, i, entity, entity, data)
                    else:
                        yield Item(seq, i, entity, entity, None, errors=[("row", "must be an object")])
        except ijson.JSONError as exc:  # the file changed under us: it was checked whole before
            raise UploadError("body", f"not valid JSON: {_reason(exc)}") from None


def bounded_lines(f: IO[str], max_chars: int, source: str) -> Iterator[str]:
    """The lines of a text file opened with ``newline=""`` (for :mod:`csv`), none longer than ``max_chars``: a
    longer one is an :class:`UploadError` naming ``source`` once ``max_chars`` of it are read, never held whole."""
    number = 0
    while line := f.readline(max_chars + 1):
        number += 1
        if len(line) > max_chars and not (len(line) == max_chars + 1 and line.endswith("\n")):
            raise UploadError(source, f"line {number} is longer than {max_chars} characters", row=number)
        yield line


def csv_items(path: Path, entity: str, limits: Limits = DEFAULT_LIMITS) -> Iterator[Item]:
    if entity not in ENTITIES:
        raise UploadError("entity", f"unknown record type {entity!r}")
    schema = ENTITIES[entity]
    allowed = set(schema.model_fields) - {"modules", "components", "weights"}
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(bounded_lines(f, limits.max_token_bytes, "file"))
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


def count_rows(path: Path, fmt: str, entity: str | None, limits: Limits = DEFAULT_LIMITS) -> int | None:
    """Rows in a CSV upload, for progress (None for the other formats: see :func:`json_outline`)."""
    if fmt != "csv":
        return None
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            return max(0, sum(1 for _ in csv.reader(bounded_lines(f, limits.max_token_bytes, "file"))) - 1)
    except (UnicodeDecodeError, csv.Error):
        return None
