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
* ``enrollments`` (role ``student``) in a class → enrolment in the class's course's programme. A ``tobedeleted``
  enrollment changes nothing (a class enrollment ending is no programme withdrawal: that is an enrolment status,
  sent by the JSON/CSV sync), but what it names must be known, as for any row.
* ``lineItems`` are assessment components: ``metadata.vn.component`` (or the title) names the component
  (``continuous``, ``final``…); ``results`` give the scores → one grade per (student, class), in the class's term.
* ``manifest.csv``: ``file.<name>`` is ``bulk``, ``delta`` or ``absent``. In delta mode a result or line item with
  ``status=tobedeleted`` deletes the learner's grade for that class and term; rows carry only what changed: a
  delta ``results.csv`` row for one component of a grade is merged with the components stored for that grade
  (natural key) and the module score recomputed.

**sourcedIds a zip does not carry.** Records remembers, per institution, every sourcedId its zips carried and what
it names (:class:`~services.records.models.OneRosterId`, written with the rows that sourcedId's row gave; class and
line item ids, which give no row of their own, travel in items of their own, :data:`SOURCED_IDS`, that count as no
row). A zip (a delta above all: only its changed files and rows) may therefore refer to users, courses, classes,
academic sessions and line items it does not carry, and a ``tobedeleted`` result or enrollment may name only its own
sourcedId. Before a job reads its rows, :func:`references` lists the ids the zip names without carrying them;
the runner looks up those ids alone (:func:`services.records.sync.repository.lookup`) and passes what it found to
:func:`items` as ``known``. What the zip carries wins over what is remembered; an id neither knows is a row error
naming the field (``unknown lineItem li9``).
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

from services.records.sync.items import SOURCED_IDS, Item, SourcedId
from services.records.sync.parsers import BOOLEAN, DEFAULT_LIMITS, Limits, UploadError, bounded_lines
from services.records.sync.repository import Known

FILES = ["orgs", "academicSessions", "courses", "classes", "users", "enrollments", "lineItems", "results"]
TERM_TYPES = {"term", "semester", "gradingPeriod"}
#: sourcedIds remembered per mapping-only item
IDS_PER_ITEM = 500


class Unresolved(Exception):
    """A sourcedId neither the zip nor the institution's remembered ids know: (field, message) for the row error."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _read(zf: zipfile.ZipFile, name: str, limits: Limits = DEFAULT_LIMITS) -> Iterator[tuple[int, dict[str, str]]]:
    """The rows of one member, streamed. Refused (naming the member) before a byte is inflated: a member larger
    than ``max_member_bytes`` or compressed more than ``max_ratio`` times (zipfile never inflates past the size a
    member declares); while reading: a line longer than ``max_token_bytes``."""
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise UploadError(name, "listed in the manifest but not in the zip") from None
    if info.file_size > limits.max_member_bytes:
        raise UploadError(name, f"expands to {info.file_size} bytes; at most {limits.max_member_bytes} are accepted")
    if info.file_size > 1024 * 1024 and info.file_size > limits.max_ratio * max(info.compress_size, 1):
        raise UploadError(name, f"expands {info.file_size // max(info.compress_size, 1)} times; at most {limits.max_ratio} "
                                "is accepted (zip bomb)")
    try:
        raw = zf.open(info)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as exc:
        raise UploadError(name, f"cannot be read from the zip: {exc}") from None
    with io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(bounded_lines(f, limits.max_token_bytes, name))
        try:
            for row in reader:
                yield reader.line_num, {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
        except (UnicodeDecodeError, csv.Error, zipfile.BadZipFile, EOFError) as exc:
            raise UploadError(name, f"cannot be read at line {reader.line_num}: {exc}") from None


def manifest(zf: zipfile.ZipFile, limits: Limits = DEFAULT_LIMITS) -> dict[str, str]:
    if "manifest.csv" not in zf.namelist():
        raise UploadError("manifest.csv", "a OneRoster zip needs manifest.csv")
    rows = list(_read(zf, "manifest.csv", limits))  # what is wrong with it is said as it is
    props = {r.get("propertyName", ""): r.get("value", "") for _, r in rows}
    version = props.get("oneroster.version", "")
    if not version.startswith("1.2"):
        raise UploadError("manifest.csv", f"oneroster.version is {version or 'missing'}; 1.2 is supported")
    return props


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise UploadError("file", "not a zip file") from None


def processing_mode(path: Path, limits: Limits = DEFAULT_LIMITS) -> str:
    zf = _open_zip(path)
    with zf:
        props = manifest(zf, limits)
    modes = {props.get(f"file.{n}", "absent") for n in FILES}
    return "delta" if "delta" in modes else "bulk"


def _is_student(r: dict[str, str]) -> bool:
    roles = {x.strip() for x in (r.get("role") or r.get("roles") or "student").split(",")}
    return bool(roles & {"student", "learner"})


def _component(line_item: dict[str, str]) -> str:
    """The assessment component a lineItems row stands for: ``metadata.vn.component``, else its title."""
    return line_item.get("metadata.vn.component") or line_item.get("title", "")


def _first_term(cls: dict[str, str]) -> str:
    return (cls.get("termSourcedIds") or "").split(",")[0].strip()


def references(path: Path, limits: Limits = DEFAULT_LIMITS) -> dict[str, set[str]]:
    """The sourcedIds, per file, that the zip's rows name without the zip carrying them (to be looked up among the
    institution's remembered ids before :func:`items` runs). Reads the zip once; holds its context files' ids and
    the ids asked for, never a results file."""
    zf = _open_zip(path)
    wanted: dict[str, set[str]] = {}

    def want(kind: str, sid: str) -> None:
        if sid:
            wanted.setdefault(kind, set()).add(sid)

    with zf:
        props = manifest(zf, limits)
        present = {n for n in FILES if props.get(f"file.{n}", "absent") in ("bulk", "delta")}

        def ids(name: str) -> Iterator[dict[str, str]]:
            if name in present:
                for _, r in _read(zf, f"{name}.csv", limits):
                    yield r

        sessions = {r.get("sourcedId", "") for r in ids("academicSessions")}
        courses = {r.get("sourcedId", "") for r in ids("courses")}
        classes: set[str] = set()
        for r in ids("classes"):
            classes.add(r.get("sourcedId", ""))
            if r.get("courseSourcedId", "") not in courses:
                want("courses", r.get("courseSourcedId", ""))
            if _first_term(r) not in sessions:
                want("academicSessions", _first_term(r))
        users = {r.get("sourcedId", "") for r in ids("users") if _is_student(r)}
        for r in ids("enrollments"):
            if r.get("role", "student") != "student":
                continue
            if r.get("status") == "tobedeleted" and not (r.get("userSourcedId") and r.get("classSourcedId")):
                want("enrollments", r.get("sourcedId", ""))
            if r.get("userSourcedId", "") not in users:
                want("users", r.get("userSourcedId", ""))
            if r.get("classSourcedId", "") not in classes:
                want("classes", r.get("classSourcedId", ""))
        line_items: set[str] = set()
        for r in ids("lineItems"):
            line_items.add(r.get("sourcedId", ""))
            if r.get("classSourcedId", "") not in classes:
                want("classes", r.get("classSourcedId", ""))
        for r in ids("results"):
            if r.get("status") == "tobedeleted" and not (r.get("lineItemSourcedId") and r.get("studentSourcedId")):
                want("results", r.get("sourcedId", ""))
            if r.get("lineItemSourcedId", "") not in line_items:
                want("lineItems", r.get("lineItemSourcedId", ""))
            if r.get("studentSourcedId", "") not in users:
                want("users", r.get("studentSourcedId", ""))
    return wanted


def referenced_by(known: Known) -> dict[str, set[str]]:
    """The ids that remembered results and enrollments name (a ``tobedeleted`` row that carried only its own
    sourcedId): their user, line item and class, to be looked up in a second round."""
    wanted: dict[str, set[str]] = {}
    for (kind, _), key in known.items():
        if kind == "results":
            wanted.setdefault("users", set()).add(key["user"])
            wanted.setdefault("lineItems", set()).add(key["lineItem"])
        elif kind == "enrollments":
            wanted.setdefault("users", set()).add(key["user"])
            wanted.setdefault("classes", set()).add(key["class"])
    return {kind: {i for i in ids if (kind, i) not in known} for kind, ids in wanted.items()}


def items(path: Path, institution_code: str, known: Known | None = None, limits: Limits = DEFAULT_LIMITS) -> Iterator[Item]:
    """The zip's rows as records items, in file order. ``known``: the institution's remembered sourcedIds the zip
    names without carrying (:func:`references`); the zip's own rows win over them."""
    known = known or {}
    zf = _open_zip(path)
    with zf:
        props = manifest(zf, limits)
        present = {n for n in FILES if props.get(f"file.{n}", "absent") in ("bulk", "delta")}
        names = {n: f"{n}.csv" for n in FILES}
        seq = 0

        def item(row: int, source: str, entity: str, data: dict[str, Any] | None, op: str = "upsert",
                 errors: list[tuple[str, str]] | None = None, ids: list[SourcedId] | None = None) -> Item:
            nonlocal seq
            seq += 1
            return Item(seq, row, source, entity, data, op, errors or [], ids)

        def remembered(source: str, batch: list[tuple[int, SourcedId]]) -> Item:
            return item(batch[0][0], source, SOURCED_IDS, None, ids=[i for _, i in batch])

        if "orgs" in present:
            for line, r in _read(zf, names["orgs"], limits):
                ident = r.get("identifier", "")
                if r.get("type") in ("school", "local", "department") and ident and ident != institution_code:
                    yield item(line, "orgs.csv", "orgs", None, errors=[("identifier", f"institution {ident} is not {institution_code}: a school syncs only its own records")])
        sessions: dict[str, dict[str, str]] = {}
        if "academicSessions" in present:
            for line, r in _read(zf, names["academicSessions"], limits):
                sid = r.get("sourcedId", "")
                sessions[sid] = r
                if r.get("type") in TERM_TYPES and r.get("status", "active") != "tobedeleted":
                    yield item(line, "academicSessions.csv", "terms", {
                        "code": sid, "name": r.get("title") or sid,
                        **({"start_date": r["startDate"]} if r.get("startDate") else {}),
                        **({"end_date": r["endDate"]} if r.get("endDate") else {}),
                    }, ids=[("academicSessions", sid, {"term_code": sid})])
        courses: dict[str, dict[str, str]] = {}
        if "courses" in present:
            for line, r in _read(zf, names["courses"], limits):
                sid = r.get("sourcedId", "")
                courses[sid] = r
                if r.get("status", "active") == "tobedeleted":
                    continue
                data: dict[str, Any] = {
                    "code": r.get("courseCode") or sid, "name": r.get("title") or r.get("courseCode"),
                    "programme_code": r.get("metadata.vn.programmeCode") or None,
                    "credits": r.get("metadata.vn.credits") or "0",
                    "is_condition": BOOLEAN.get(r.get("metadata.vn.isCondition", "").lower(), False),
                }
                if not data["programme_code"]:
                    yield item(line, "courses.csv", "modules", None, errors=[("metadata.vn.programmeCode", "names the programme the course belongs to")])
                else:
                    yield item(line, "courses.csv", "modules", data,
                               ids=[("courses", sid, {"programme_code": data["programme_code"], "module_code": data["code"]})])

        def course_key(sid: str) -> dict[str, str] | None:
            """(programme code, module code) of a course."""
            r = courses.get(sid)
            if r is not None:
                return {"programme_code": r.get("metadata.vn.programmeCode", ""), "module_code": r.get("courseCode") or sid}
            return known.get(("courses", sid))

        def term_code(sid: str) -> str:
            if sid in sessions:
                return sid
            return known.get(("academicSessions", sid), {}).get("term_code", sid)

        classes: dict[str, dict[str, str]] = {}
        if "classes" in present:
            batch: list[tuple[int, SourcedId]] = []
            for line, r in _read(zf, names["classes"], limits):
                sid = r.get("sourcedId", "")
                classes[sid] = r
                course = course_key(r.get("courseSourcedId", ""))
                if course is not None and r.get("status", "active") != "tobedeleted":
                    batch.append((line, ("classes", sid, course | {"term_code": term_code(_first_term(r))})))
                if len(batch) >= IDS_PER_ITEM:
                    yield remembered("classes.csv", batch)
                    batch = []
            if batch:
                yield remembered("classes.csv", batch)

        def class_key(sid: str, field: str) -> dict[str, str]:
            """(programme, module, term codes) of a class."""
            cls = classes.get(sid)
            if cls is None:
                found = known.get(("classes", sid))
                if found is None:
                    raise Unresolved(field, f"unknown class {sid}")
                return found
            course = course_key(cls.get("courseSourcedId", ""))
            if course is None:
                raise Unresolved(field, f"class {sid} refers to an unknown course {cls.get('courseSourcedId', '')}")
            return course | {"term_code": term_code(_first_term(cls))}

        users: dict[str, str] = {}
        demographics: dict[str, dict[str, str]] = {}
        if "demographics.csv" in zf.namelist():
            for _, r in _read(zf, "demographics.csv", limits):
                demographics[r.get("sourcedId", "")] = r
        if "users" in present:
            for line, r in _read(zf, names["users"], limits):
                if not _is_student(r):
                    continue
                sid = r.get("sourcedId", "")
                number = r.get("userMasterIdentifier", "")
                users[sid] = number
                if r.get("status", "active") == "tobedeleted":
                    continue
                name = " ".join(p for p in (r.get("familyName"), r.get("middleName"), r.get("givenName")) if p)
                demo = demographics.get(sid, {})
                data = {"id_number": number, "full_name": name, "learner_code": r.get("identifier") or None}
                if demo.get("sex") in ("male", "female"):
                    data["sex"] = demo["sex"]
                if demo.get("birthDate"):
                    data["date_of_birth"] = demo["birthDate"]
                if demo.get("cityOfBirth"):
                    data["birth_place"] = demo["cityOfBirth"]
                yield item(line, "users.csv", "learners", {k: v for k, v in data.items() if v is not None},
                           ids=[("users", sid, {"id_number": number})])

        def user_number(sid: str, field: str) -> str:
            number = users.get(sid)
            if number is None:
                number = known.get(("users", sid), {}).get("id_number")
            if number is None:
                raise Unresolved(field, f"unknown user {sid}")
            return number

        if "enrollments" in present:
            for line, r in _read(zf, names["enrollments"], limits):
                if r.get("role", "student") != "student":
                    continue
                sid, user, class_id = r.get("sourcedId", ""), r.get("userSourcedId", ""), r.get("classSourcedId", "")
                try:
                    if r.get("status", "active") == "tobedeleted":
                        if not (user and class_id):  # a deletion may carry its own sourcedId alone
                            stored = known.get(("enrollments", sid))
                            if stored is None:
                                raise Unresolved("sourcedId", f"unknown enrollment {sid}")
                            user, class_id = user or stored["user"], class_id or stored["class"]
                        class_key(class_id, "classSourcedId")
                        user_number(user, "userSourcedId")
                        continue  # known, and nothing to change (see the module's docstring)
                    key = class_key(class_id, "classSourcedId")
                    number = user_number(user, "userSourcedId")
                except Unresolved as err:
                    yield item(line, "enrollments.csv", "enrolments", None, errors=[(err.field, err.message)])
                    continue
                yield item(line, "enrollments.csv", "enrolments", {
                    "id_number": number, "programme_code": key["programme_code"],
                    **({"enrolled_on": r["beginDate"]} if r.get("beginDate") else {}),
                }, ids=[("enrollments", sid, {"user": user, "class": class_id})] if sid else None)
        line_items: dict[str, dict[str, str]] = {}
        deleted_items: set[str] = set()
        if "lineItems" in present:
            batch = []
            for line, r in _read(zf, names["lineItems"], limits):
                sid = r.get("sourcedId", "")
                line_items[sid] = r
                if r.get("status") == "tobedeleted":
                    deleted_items.add(sid)
                    continue
                try:
                    key = class_key(r.get("classSourcedId", ""), "classSourcedId")
                except Unresolved:
                    continue  # an error for the results that use it
                batch.append((line, ("lineItems", sid, key | {"component": _component(r)})))
                if len(batch) >= IDS_PER_ITEM:
                    yield remembered("lineItems.csv", batch)
                    batch = []
            if batch:
                yield remembered("lineItems.csv", batch)

        def line_item_key(sid: str, field: str) -> dict[str, str]:
            """(programme, module, term codes, component) of a line item."""
            li = line_items.get(sid)
            if li is None:
                found = known.get(("lineItems", sid))
                if found is None:
                    raise Unresolved(field, f"unknown lineItem {sid}")
                return found
            return class_key(li.get("classSourcedId", ""), field) | {"component": _component(li)}

        if "results" in present:
            # a delta file carries only the results that changed: its grades merge with the stored components
            results_op = "merge" if props.get("file.results") == "delta" else "upsert"
            # one grade per natural key (student, class: its course and term), its components gathered from result
            # rows anywhere in the file
            with _ResultGroups(path) as groups:
                for line, r in _read(zf, names["results"], limits):
                    sid, li_id, student = r.get("sourcedId", ""), r.get("lineItemSourcedId", ""), r.get("studentSourcedId", "")
                    deleted = r.get("status") == "tobedeleted"
                    try:
                        if deleted and not (li_id and student):  # a deletion may carry its own sourcedId alone
                            stored = known.get(("results", sid))
                            if stored is None:
                                raise Unresolved("sourcedId", f"unknown result {sid}")
                            li_id, student = li_id or stored["lineItem"], student or stored["user"]
                        key = line_item_key(li_id, "lineItemSourcedId")
                        number = user_number(student, "studentSourcedId")
                    except Unresolved as err:
                        yield item(line, "results.csv", "grades", None, errors=[(err.field, err.message)])
                        continue
                    groups.add((number, key["programme_code"], key["module_code"], key["term_code"]), line,
                               key["component"], r.get("score", ""), deleted or li_id in deleted_items, (sid, student, li_id))
                for (number, programme, module, term), first_line, components, delete, results in groups:
                    key_data = {"id_number": number, "programme_code": programme, "module_code": module, "term_code": term}
                    ids: list[SourcedId] = [("results", sid, {"user": student, "lineItem": li_id}) for sid, student, li_id in results if sid]
                    if delete:
                        yield item(first_line, "results.csv", "grades", key_data, op="delete", ids=ids)
                    else:
                        yield item(first_line, "results.csv", "grades", key_data | {"components": components}, op=results_op, ids=ids)


class _ResultGroups:
    """Result rows grouped by grade (natural key: ID number, programme, module, term) without holding the file in
    memory: the rows go to a scratch SQLite file next to the upload and come back one group at a time, in the order
    of each group's first row, its components in file order (a later score for the same component wins; a
    ``tobedeleted`` row marks the grade for deletion), with each row's (sourcedId, student, line item). Memory is
    bounded by a batch of rows and one group, however large ``results.csv`` is."""

    BATCH = 5000

    def __init__(self, upload: Path) -> None:
        self.folder = upload.parent
        self.path: Path | None = None
        self.db: sqlite3.Connection | None = None
        self.pending: list[tuple[str, str, str, str, int, str, str, int, str, str, str]] = []

    def __enter__(self) -> _ResultGroups:
        fd, name = tempfile.mkstemp(prefix="results-", suffix=".sqlite", dir=self.folder)  # one per reader
        os.close(fd)
        self.path = Path(name)
        self.db = sqlite3.connect(self.path)
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("CREATE TABLE r (number TEXT, programme TEXT, module TEXT, term TEXT, line INTEGER,"
                        " component TEXT, score TEXT, deleted INTEGER, sid TEXT, student TEXT, li TEXT)")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.db is not None:
            self.db.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def add(self, key: tuple[str, str, str, str], line: int, component: str, score: str, deleted: bool,
            result: tuple[str, str, str]) -> None:
        self.pending.append((*key, line, component, score, int(deleted), *result))
        if len(self.pending) >= self.BATCH:
            self._flush()

    def _flush(self) -> None:
        assert self.db is not None
        self.db.executemany("INSERT INTO r VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", self.pending)
        self.pending.clear()

    def __iter__(self) -> Iterator[tuple[tuple[str, str, str, str], int, dict[str, str], bool, list[tuple[str, str, str]]]]:
        """(grade's natural key, line of the group's first row, components, delete, result ids) per group."""
        assert self.db is not None
        self._flush()
        self.db.execute("CREATE INDEX r_key ON r (number, programme, module, term, line)")
        rows = self.db.execute(
            "SELECT r.number, r.programme, r.module, r.term, f.first, r.component, r.score, r.deleted, r.sid, r.student, r.li"
            " FROM r JOIN (SELECT number, programme, module, term, min(line) AS first FROM r"
            " GROUP BY number, programme, module, term) AS f"
            " ON f.number = r.number AND f.programme = r.programme AND f.module = r.module AND f.term = r.term"
            " ORDER BY f.first, r.line"
        )
        group: tuple[tuple[str, str, str, str], int] | None = None
        components: dict[str, str] = {}
        results: list[tuple[str, str, str]] = []
        delete = False
        for number, programme, module, term, first, component, score, deleted, sid, student, li in rows:
            if group is None or first != group[1]:
                if group is not None:
                    yield *group, components, delete, results
                group, components, delete, results = ((number, programme, module, term), first), {}, False, []
            if deleted:
                delete = True
            else:
                components[component] = score
            results.append((sid, student, li))
        if group is not None:
            yield *group, components, delete, results
