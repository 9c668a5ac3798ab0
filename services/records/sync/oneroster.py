"""OneRoster 1.2 CSV (a zip with ``manifest.csv``) → records rows.

Mapping (files read: orgs, academicSessions, courses, classes, users, enrollments, lineItems, results; an
optional ``demographics.csv`` gives sex, birth date and ``cityOfBirth`` as the place of birth):

* ``orgs``: the org whose ``identifier`` is an institution code must be the uploading institution; any other
  institution code is refused (a school syncs only itself).
* ``academicSessions`` of type ``term`` / ``semester`` / ``gradingPeriod`` → terms (code = ``sourcedId``).
* ``courses`` → modules: ``courseCode`` is the module code; the programme is named by the extension column
  ``metadata.vn.programmeCode`` and must already exist (programmes come from the JSON/CSV sync); credits from
  ``metadata.vn.credits``, condition module from ``metadata.vn.isCondition``.
* ``users`` with role ``student`` → learners; ``userMasterIdentifier`` carries the personal ID number; the full
  name is ``familyName middleName givenName`` (Vietnamese order).
* ``enrollments`` (role ``student``) in a class → enrolment in the class's course's programme.
* ``lineItems`` are assessment components: ``metadata.vn.component`` (or the title) names the component
  (``continuous``, ``final``…); ``results`` give the scores → one grade per (student, class), in the class's term.
* ``manifest.csv``: ``file.<name>`` is ``bulk``, ``delta`` or ``absent``. In delta mode a result or line item with
  ``status=tobedeleted`` deletes the learner's grade for that class and term; rows carry only what changed: a
  delta ``results.csv`` row for one component of a grade is merged with the components stored for that grade
  (natural key) and the module score recomputed. The context of a delta's results (users, classes, courses,
  lineItems) is read from the same zip, so those files are sent with it.
"""

from __future__ import annotations

import csv
import io
import os
import sqlite3
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from services.records.sync.apply import Item
from services.records.sync.parsers import BOOLEAN, UploadError

FILES = ["orgs", "academicSessions", "courses", "classes", "users", "enrollments", "lineItems", "results"]
TERM_TYPES = {"term", "semester", "gradingPeriod"}


def _read(zf: zipfile.ZipFile, name: str) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        raw = zf.open(name)
    except KeyError:
        raise UploadError(name, "listed in the manifest but not in the zip") from None
    with io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        try:
            for row in reader:
                yield reader.line_num, {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
        except (UnicodeDecodeError, csv.Error) as exc:
            raise UploadError(name, f"cannot be read at line {reader.line_num}: {exc}") from None


def manifest(zf: zipfile.ZipFile) -> dict[str, str]:
    try:
        rows = list(_read(zf, "manifest.csv"))
    except UploadError:
        raise UploadError("manifest.csv", "a OneRoster zip needs manifest.csv") from None
    props = {r.get("propertyName", ""): r.get("value", "") for _, r in rows}
    version = props.get("oneroster.version", "")
    if not version.startswith("1.2"):
        raise UploadError("manifest.csv", f"oneroster.version is {version or 'missing'}; 1.2 is supported")
    return props


def processing_mode(path: Path) -> str:
    with zipfile.ZipFile(path) as zf:
        props = manifest(zf)
    modes = {props.get(f"file.{n}", "absent") for n in FILES}
    return "delta" if "delta" in modes else "bulk"


def items(path: Path, institution_code: str) -> Iterator[Item]:
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise UploadError("file", "not a zip file") from None
    with zf:
        props = manifest(zf)
        present = {n for n in FILES if props.get(f"file.{n}", "absent") in ("bulk", "delta")}
        names = {n: f"{n}.csv" for n in FILES}
        seq = 0

        def item(row: int, source: str, entity: str, data: dict[str, Any] | None, op: str = "upsert", errors: list[tuple[str, str]] | None = None) -> Item:
            nonlocal seq
            seq += 1
            return Item(seq, row, source, entity, data, op, errors or [])

        if "orgs" in present:
            for line, r in _read(zf, names["orgs"]):
                ident = r.get("identifier", "")
                if r.get("type") in ("school", "local", "department") and ident and ident != institution_code:
                    yield item(line, "orgs.csv", "orgs", None, errors=[("identifier", f"institution {ident} is not {institution_code}: a school syncs only its own records")])
        sessions: dict[str, dict[str, str]] = {}
        if "academicSessions" in present:
            for line, r in _read(zf, names["academicSessions"]):
                sessions[r.get("sourcedId", "")] = r
                if r.get("type") in TERM_TYPES and r.get("status", "active") != "tobedeleted":
                    yield item(line, "academicSessions.csv", "terms", {
                        "code": r.get("sourcedId"), "name": r.get("title") or r.get("sourcedId"),
                        **({"start_date": r["startDate"]} if r.get("startDate") else {}),
                        **({"end_date": r["endDate"]} if r.get("endDate") else {}),
                    })
        courses: dict[str, dict[str, str]] = {}
        if "courses" in present:
            for line, r in _read(zf, names["courses"]):
                courses[r.get("sourcedId", "")] = r
                if r.get("status", "active") == "tobedeleted":
                    continue
                data: dict[str, Any] = {
                    "code": r.get("courseCode") or r.get("sourcedId"), "name": r.get("title") or r.get("courseCode"),
                    "programme_code": r.get("metadata.vn.programmeCode") or None,
                    "credits": r.get("metadata.vn.credits") or "0",
                    "is_condition": BOOLEAN.get(r.get("metadata.vn.isCondition", "").lower(), False),
                }
                if not data["programme_code"]:
                    yield item(line, "courses.csv", "modules", None, errors=[("metadata.vn.programmeCode", "names the programme the course belongs to")])
                else:
                    yield item(line, "courses.csv", "modules", data)
        classes: dict[str, dict[str, str]] = {}
        if "classes" in present:
            for _, r in _read(zf, names["classes"]):
                classes[r.get("sourcedId", "")] = r
        users: dict[str, str] = {}
        demographics: dict[str, dict[str, str]] = {}
        if "demographics.csv" in zf.namelist():
            for _, r in _read(zf, "demographics.csv"):
                demographics[r.get("sourcedId", "")] = r
        if "users" in present:
            for line, r in _read(zf, names["users"]):
                roles = {x.strip() for x in (r.get("role") or r.get("roles") or "student").split(",")}
                if not roles & {"student", "learner"}:
                    continue
                number = r.get("userMasterIdentifier", "")
                users[r.get("sourcedId", "")] = number
                if r.get("status", "active") == "tobedeleted":
                    continue
                name = " ".join(p for p in (r.get("familyName"), r.get("middleName"), r.get("givenName")) if p)
                demo = demographics.get(r.get("sourcedId", ""), {})
                data = {"id_number": number, "full_name": name, "learner_code": r.get("identifier") or None}
                if demo.get("sex") in ("male", "female"):
                    data["sex"] = demo["sex"]
                if demo.get("birthDate"):
                    data["date_of_birth"] = demo["birthDate"]
                if demo.get("cityOfBirth"):
                    data["birth_place"] = demo["cityOfBirth"]
                yield item(line, "users.csv", "learners", {k: v for k, v in data.items() if v is not None})

        def class_context(class_id: str, field: str) -> tuple[dict[str, str], dict[str, str]]:
            cls = classes.get(class_id)
            if cls is None:
                raise UploadError(field, f"unknown class {class_id!r}")
            course = courses.get(cls.get("courseSourcedId", ""))
            if course is None:
                raise UploadError(field, f"class {class_id} refers to an unknown course")
            return cls, course

        if "enrollments" in present:
            for line, r in _read(zf, names["enrollments"]):
                if r.get("role", "student") != "student" or r.get("status", "active") == "tobedeleted":
                    continue
                number = users.get(r.get("userSourcedId", ""))
                try:
                    _, course = class_context(r.get("classSourcedId", ""), "classSourcedId")
                except UploadError as err:
                    yield item(line, "enrollments.csv", "enrolments", None, errors=[(err.field, err.message)])
                    continue
                if number is None:
                    yield item(line, "enrollments.csv", "enrolments", None, errors=[("userSourcedId", "unknown student")])
                    continue
                yield item(line, "enrollments.csv", "enrolments", {
                    "id_number": number, "programme_code": course.get("metadata.vn.programmeCode", ""),
                    **({"enrolled_on": r["beginDate"]} if r.get("beginDate") else {}),
                })
        line_items: dict[str, dict[str, str]] = {}
        deleted_items: set[str] = set()
        if "lineItems" in present:
            for _, r in _read(zf, names["lineItems"]):
                line_items[r.get("sourcedId", "")] = r
                if r.get("status") == "tobedeleted":
                    deleted_items.add(r.get("sourcedId", ""))
        if "results" in present:
            # a delta file carries only the results that changed: its grades merge with the stored components
            results_op = "merge" if props.get("file.results") == "delta" else "upsert"
            # one grade per (student, class), its components gathered from result rows anywhere in the file
            with _ResultGroups(path) as groups:
                for line, r in _read(zf, names["results"]):
                    li = line_items.get(r.get("lineItemSourcedId", ""))
                    if li is None:
                        yield item(line, "results.csv", "grades", None, errors=[("lineItemSourcedId", "unknown line item")])
                        continue
                    deleted = r.get("status") == "tobedeleted" or li.get("sourcedId") in deleted_items
                    component = li.get("metadata.vn.component") or li.get("title", "")
                    groups.add(r.get("studentSourcedId", ""), li.get("classSourcedId", ""), line, component, r.get("score", ""), deleted)
                for student, class_id, first_line, components, delete in groups:
                    number = users.get(student)
                    try:
                        cls, course = class_context(class_id, "lineItemSourcedId")
                    except UploadError as err:
                        yield item(first_line, "results.csv", "grades", None, errors=[(err.field, err.message)])
                        continue
                    if number is None:
                        yield item(first_line, "results.csv", "grades", None, errors=[("studentSourcedId", "unknown student")])
                        continue
                    term = (cls.get("termSourcedIds") or "").split(",")[0].strip()
                    key_data = {"id_number": number, "programme_code": course.get("metadata.vn.programmeCode", ""),
                                "module_code": course.get("courseCode") or course.get("sourcedId"), "term_code": term}
                    if delete:
                        yield item(first_line, "results.csv", "grades", key_data, op="delete")
                    else:
                        yield item(first_line, "results.csv", "grades", key_data | {"components": components}, op=results_op)


class _ResultGroups:
    """Result rows grouped by (student, class) without holding the file in memory: the rows go to a scratch SQLite
    file next to the upload and come back one group at a time, in the order of each group's first row, its
    components in file order (a later score for the same component wins; a ``tobedeleted`` row marks the grade for
    deletion). Memory is bounded by a batch of rows and one group, however large ``results.csv`` is."""

    BATCH = 5000

    def __init__(self, upload: Path) -> None:
        self.folder = upload.parent
        self.path: Path | None = None
        self.db: sqlite3.Connection | None = None
        self.pending: list[tuple[str, str, int, str, str, int]] = []

    def __enter__(self) -> _ResultGroups:
        fd, name = tempfile.mkstemp(prefix="results-", suffix=".sqlite", dir=self.folder)  # one per reader
        os.close(fd)
        self.path = Path(name)
        self.db = sqlite3.connect(self.path)
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("CREATE TABLE r (student TEXT, class TEXT, line INTEGER, component TEXT, score TEXT, deleted INTEGER)")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.db is not None:
            self.db.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def add(self, student: str, class_id: str, line: int, component: str, score: str, deleted: bool) -> None:
        self.pending.append((student, class_id, line, component, score, int(deleted)))
        if len(self.pending) >= self.BATCH:
            self._flush()

    def _flush(self) -> None:
        assert self.db is not None
        self.db.executemany("INSERT INTO r VALUES (?, ?, ?, ?, ?, ?)", self.pending)
        self.pending.clear()

    def __iter__(self) -> Iterator[tuple[str, str, int, dict[str, str], bool]]:
        """(student, class, line of the group's first row, components, delete) per group."""
        assert self.db is not None
        self._flush()
        self.db.execute("CREATE INDEX r_key ON r (student, class, line)")
        rows = self.db.execute(
            "SELECT r.student, r.class, f.first, r.component, r.score, r.deleted FROM r"
            " JOIN (SELECT student, class, min(line) AS first FROM r GROUP BY student, class) AS f"
            " ON f.student = r.student AND f.class = r.class ORDER BY f.first, r.line"
        )
        group: tuple[str, str, int] | None = None
        components: dict[str, str] = {}
        delete = False
        for student, class_id, first, component, score, deleted in rows:
            if group is None or first != group[2]:
                if group is not None:
                    yield *group, components, delete
                group, components, delete = (student, class_id, first), {}, False
            if deleted:
                delete = True
            else:
                components[component] = score
        if group is not None:
            yield *group, components, delete
