"""A seeded, reproducible generator of mutated credentials: each case is a genuine credential changed by one
mutation of one family — values, types, properties, full and compact IRIs, JSON-LD keywords, forged subjects,
status entries, contexts, proofs, Unicode. The same seed and the same genuine credentials (same issue requests)
give the same cases, named ``NNNN family/variant $.path @base``.

Most mutations break the signature and both verifiers refuse them; the ones that matter keep the signed RDF the
same while changing what the JSON says, or change what the status check reads."""

from __future__ import annotations

import copy
import json
import random
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.credentials.differential import iris as iri_tables
from tests.credentials.differential.jsondoc import Path, RecipeError, delete, get, rename, render, set_, walk

VC_V2 = "https://www.w3.org/ns/credentials/v2"
CRED = "https://www.w3.org/2018/credentials#"
STATUS = "https://www.w3.org/ns/credentials/status#"
SCHEMA = "https://schema.org/"
VET = "https://vet.gov.vn/ns/credentials#"
XSD = "http://www.w3.org/2001/XMLSchema#"

#: a forged subject: what a forger wants an employer to read. Its nested achievement has an id no processor can
#: use either (a nested node with a usable id, or none, would put its own triples into the signed data)
FORGED_SUBJECT: dict[str, Any] = {
    "type": ["AchievementSubject"],
    "name": "Lê Văn Giả",
    "birthDate": "1999-01-01",
    "achievement": {
        "id": "urn:vet:programme:CD0101 6340301", "type": ["Achievement"], "achievementType": "Diploma",
        "name": "Kế toán doanh nghiệp", "description": "Bằng tốt nghiệp cao đẳng (College diploma): Kế toán doanh nghiệp",
        "educationLevel": "college",
    },
    "graduationYear": 2026,
    "gpa": "4.00",
    "classification": "Xuất sắc",
}
#: ids JSON-LD cannot use as IRIs (or that it resolves against a base): a node with one is dropped by a lax processor
BAD_IDS = ["urn:vet:subject forged", "http://example.org/a b", "urn:x:<forged>", "forged-subject", "#forged",
           "urn:x:{forged}", "urn:x:a\u0000b", "", " urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8", "urn:x:\\forged"]
WEIRD_IDS = [*BAD_IDS, "_:b0", "_:forged", "urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8", "did:example:123",
             "https://evil.example/subject", "urn:x:%zz"]
CONTROL = ["\u0000", "\u0001", "\u0008", "\u000b", "\u000c", "\u001f", "\u007f", "\u0085", "\t", "\n", "\r"]
BIDI = ["\u200e", "\u200f", "\u202a", "\u202b", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\u061c"]
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u034f"]
ASTRAL = ["\U0001d400", "\U0001f600", "\U00020000", "\U0001f1fb\U0001f1f3", "\U0010fffd"]
HOMOGLYPHS = {"Đ": "Ð", "đ": "đ", "a": "а", "o": "о", "e": "е", "i": "і", "H": "Н", "T": "Т"}
SCRIPTS = ["Nguyễn Văn Ẩn", "ĐẶNG THỊ NGỌC ÁNH", "Lê Thị Ỷ", "Phạm Thị Hương Giang", "Trần Văn Minh", "Ngô Bảo Châu",
           "Hà Nội", "Thành phố Hồ Chí Minh", "Giỏi", "Xuất sắc", "Trung bình", "4.00", "Kế toán doanh nghiệp"]


@dataclass
class Case:
    name: str
    family: str
    base: str
    document: Any


@dataclass
class Env:
    """What mutations draw on besides the document: the genuine credentials, their keys' IRIs, status entries of
    active credentials (whose bits are clear), and the status list URLs."""

    genuine: dict[str, dict[str, Any]]
    terms: iri_tables.Terms = field(default_factory=dict)
    clear_entries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    list_urls: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, genuine: dict[str, dict[str, Any]], expected: dict[str, str]) -> Env:
        env = cls(genuine=genuine)
        for doc in genuine.values():
            env.terms = iri_tables.full_iris(doc, env.terms)
        for name, doc in genuine.items():
            for entry in entries_of(doc):
                purpose = entry.get("statusPurpose")
                if isinstance(purpose, str):
                    env.list_urls.setdefault(purpose, entry.get("statusListCredential"))
                    if expected.get(name) == "valid":
                        env.clear_entries.setdefault(purpose, []).append(entry)
        return env

    def iri(self, path: Path) -> str | None:
        term = self.terms.get(tuple(0 if isinstance(s, int) else s for s in path))
        return term[0] if term else None

    def coercion(self, path: Path) -> str | None:
        term = self.terms.get(tuple(0 if isinstance(s, int) else s for s in path))
        return term[1] if term else None

    def rename_to_iri(self, doc: Any, path: Path, iri: str) -> None:
        """Renames the key at ``path`` to ``iri`` (full or compact), its value written so it keeps its meaning."""
        rename(doc, path, iri)
        new = [*path[:-1], iri]
        set_(doc, new, iri_tables.as_expanded_value(get(doc, new), self.coercion(path)))


def entries_of(doc: Any) -> list[dict[str, Any]]:
    status = doc.get("credentialStatus") if isinstance(doc, dict) else None
    if isinstance(status, dict):
        return [status]
    return [e for e in status if isinstance(e, dict)] if isinstance(status, list) else []


Mutation = Callable[[random.Random, dict[str, Any], Env], "tuple[str, Any] | None"]


# --- helpers -----------------------------------------------------------------------------------------------------------

def _paths(doc: Any, *, leaves: bool | None = None, skip_context: bool = True) -> list[Path]:
    """Paths of a document (not the root): only leaves (``True``), only objects and arrays (``False``) or all."""
    out = []
    for path, value in walk(doc):
        if not path or skip_context and path[0] == "@context":
            continue
        is_leaf = not isinstance(value, (dict, list))
        if leaves is None or leaves == is_leaf:
            out.append(path)
    return out


def _objects(doc: Any) -> list[Path]:
    return [p for p, v in walk(doc) if isinstance(v, dict) and not (p and p[0] == "@context")]


def _key_paths(doc: Any) -> list[Path]:
    return [p for p in _paths(doc) if isinstance(p[-1], str)]


def _subject_path(doc: dict[str, Any]) -> Path:
    return ["credentialSubject"] if isinstance(doc.get("credentialSubject"), dict) else ["credentialSubject", 0]


def _listified_status(doc: dict[str, Any]) -> list[dict[str, Any]]:
    status = doc.get("credentialStatus")
    if not isinstance(status, list):
        status = [status]
        doc["credentialStatus"] = status
    return status


def _string_change(rng: random.Random, s: str) -> tuple[str, str]:
    choice = rng.randrange(8)
    if choice == 0:
        return "append", s + rng.choice([" ", ".", "x", "0"])
    if choice == 1:
        return "empty", ""
    if choice == 2:
        return "other-text", rng.choice(SCRIPTS)
    if choice == 3:
        return "upper", s.upper() if s.upper() != s else s.lower()
    if choice == 4 and s:
        i = rng.randrange(len(s))
        return "drop-char", s[:i] + s[i + 1:]
    if choice == 5:
        return "digits", "".join(str((int(c) + 1) % 10) if c.isdigit() else c for c in s) if any(c.isdigit() for c in s) else s + "1"
    if choice == 6:
        return "trailing-space", s + " "
    return "leading-space", " " + s


def _type_change(rng: random.Random, value: Any) -> tuple[str, Any]:
    options: list[tuple[str, Any]] = [("null", None), ("empty-object", {}), ("empty-array", [])]
    if isinstance(value, str):
        try:
            number: Any = json.loads(value) if value.strip() else 0
            number = number if isinstance(number, (int, float)) and not isinstance(number, bool) else len(value)
        except ValueError:
            number = len(value)
        options += [("string-to-number", number), ("string-to-array", [value]), ("string-to-object", {"name": value}),
                    ("string-to-bool", bool(value)), ("string-to-value-object", {"@value": value})]
    elif isinstance(value, bool):
        options += [("bool-to-string", str(value).lower()), ("bool-to-number", int(value))]
    elif isinstance(value, (int, float)):
        options += [("number-to-string", str(value)), ("number-to-float", float(value) + 0.5 if isinstance(value, int) else int(value)),
                    ("number-to-array", [value]), ("number-to-bool", bool(value)), ("number-huge", 10 ** 30),
                    ("number-negative", -value - 1)]
    elif isinstance(value, list):
        options += [("array-to-first", value[0] if value else None), ("array-to-object", {str(i): v for i, v in enumerate(value)}),
                    ("array-nested", [value]), ("array-to-string", json.dumps(value, ensure_ascii=False))]
    elif isinstance(value, dict):
        options += [("object-to-array", [value]), ("object-to-string", value.get("id") or value.get("name") or "x"),
                    ("object-to-number", 1), ("object-duplicated", [value, copy.deepcopy(value)])]
    return rng.choice(options)


# --- families ------------------------------------------------------------------------------------------------------------

def value_change(rng: random.Random, doc: dict[str, Any], env: Env) -> tuple[str, Any] | None:
    path = rng.choice(_paths(doc, leaves=True))
    value = get(doc, path)
    if isinstance(value, bool):
        label, new = "flip", not value
    elif isinstance(value, (int, float)):
        label, new = "number", value + rng.choice([1, -1, 100])
    elif isinstance(value, str):
        label, new = _string_change(rng, value)
    else:
        label, new = "null-to-string", "x"
    set_(doc, path, new)
    return f"{label} {render(path)}", doc


def value_remove(rng: random.Random, doc: dict[str, Any], env: Env) -> tuple[str, Any] | None:
    path = rng.choice(_paths(doc))
    delete(doc, path)
    return f"remove {render(path)}", doc


EXTRA_PROPERTIES: list[tuple[str, Any]] = [
    ("description", "Bằng giả"), ("name", "Tên khác"), ("gpa", "4.00"), ("classification", "Xuất sắc"),
    ("ghiChu", "không định nghĩa"), ("https://example.org/extra", "x"), ("vet:gpa", "4.00"), ("vet:unknownTerm", "x"),
    ("educationLevel", "college"), ("supersedes", "urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
    ("validUntil", "2000-01-01T00:00:00Z"), ("id", "urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
    ("credentialStatus", {"type": "BitstringStatusListEntry"}), ("evidence", [{"type": ["Evidence"], "name": "x"}]),
]


def value_add(rng: random.Random, doc: dict[str, Any], env: Env) -> tuple[str, Any] | None:
    path = rng.choice(_objects(doc))
    node = get(doc, path)
    key, value = rng.choice(EXTRA_PROPERTIES)
    if key in node:
        key = key + "2"
    node[key] = copy.deepcopy(value)
    return f"add {render([*path, key])}", doc


def type_change(rng: random.Random, doc: dict[str, Any], env: Env) -> tuple[str, Any] | None:
    path = rng.choice(_paths(doc))
    label, new = _type_change(rng, get(doc, path))
    set_(doc, path, new)
    return f"{label} {render(path)}", doc


def iri_rename(rng: random.Random, doc: dict[str, Any], env: Env) -> tuple[str, Any] | None:
    """A key renamed to its full or compact IRI (its value written to keep its meaning: the same RDF), to a near
    miss, or to a keyword alias; or the signed value kept under the full IRI and a forged one put under the key."""
    candidates = [p for p in _key_paths(doc) if env.iri(p) or p[-1] in iri_tables.KEYWORD_ALIASES]
    if not candidates:
        return None
    path = rng.choice(candidates)
    key = path[-1]
    assert isinstance(key, str)
    iri = env.iri(path)
    choice = rng.randrange(6)
    if iri is None:
        rename(doc, path, iri_tables.KEYWORD_ALIASES[key])
        return f"keyword-alias {render(path)}", doc
    if choice <= 1:
        env.rename_to_iri(doc, path, iri)
        return f"full-iri {render(path)} → {iri}", doc
    if choice == 2:
        to = rng.choice(iri_tables.compact_forms(iri))
        env.rename_to_iri(doc, path, to)
        return f"compact-iri {render(path)} → {to}", doc
    if choice <= 4:
        # the signed value under its full IRI, a forged one under the plain key (readers read the key)
        env.rename_to_iri(doc, path, iri)
        set_(doc, path, _forged_like(get(doc, [*path[:-1], iri])))
        return f"full-iri-plus-forged-key {render(path)}", doc
    to = iri.replace("https://", "http://") if iri.startswith("https://") else iri + "/"
    rename(doc, path, to)
    return f"near-iri {render(path)} → {to}", doc


LOSSY: list[tuple[str, Callable[[Any], Any]]] = [
    ("@direction", lambda v: {"@value": v, "@direction": "rtl"}),
    ("@direction-ltr+@language", lambda v: {"@value": v, "@language": "vi", "@direction": "ltr"}),
    ("@value-null", lambda v: {"@value": None}),
    ("lone-@language", lambda v: {"@language": "vi"}),
    ("@type-blank", lambda v: {"@value": v, "@type": "_:t"}),
    ("@type-relative", lambda v: {"@value": v, "@type": "xsd:string "}),
    ("@language-invalid", lambda v: {"@value": v, "@language": "vi VN"}),
    ("@list-of-null", lambda v: {"@list": [None]}),
    ("@set-empty", lambda v: {"@set": []}),
    ("@id-invalid", lambda v: {"@id": f"urn:x:{v}" if isinstance(v, str) and " " in v else "urn:x:a b"}),
]


def lossy_forgery(rng: random.Random, doc: dict[str, Any], env: Env) -> tuple[str, Any] | None:
    """The signed value kept under its full or compact IRI; under the plain key (what readers read) a forged
    value in a form a lax JSON-LD processor drops without a word (``@direction``, ``{"@value": null}``, a lone
    ``@language``, a blank-node datatype…), so the signed data stays the same."""
    leaves = [p for p in _key_paths(doc) if env.iri(p) and not isinstance(get(doc, p), (dict, list))]
    if not leaves:
        return None
    preferred = [p for p in leaves if p[-1] in ("gpa", "classification", "name", "educationLevel", "birthDate", "trainingMode",
                                                   "graduationYear", "finalScore", "achievementType", "decisionDate")]
    path = rng.choice(preferred if preferred and rng.random() < 0.7 else leaves)
    iri = env.iri(path)
    assert iri is not None
    env.rename_to_iri(doc, path, iri if rng.random() < 0.6 else rng.choice(iri_tables.compact_forms(iri)))
    label, make = rng.choice(LOSSY)
    set_(doc, path, make(_forged_like(get(doc, [*path[:-1], iri])) if iri in get(doc, path[:-1]) else "4.00"))
    return f"{label} {render(path)}", doc


def blank_predicate(rng: random.Random, doc: dict[str, Any], env: Env) -> tuple[str, Any] | None:
    """A forged value under a key (or an inline term) that maps to a blank node — no triple in RDF, so nothing to
    sign — with the signed value moved under its full IRI."""
    leaves = [p for p in _key_paths(doc) if env.iri(p) and len(p) >= 2 and isinstance(get(doc, p[:-1]), dict)]
    preferred = [p for p in leaves if p[-1] in ("gpa", "classification", "educationLevel", "name", "trainingMode")]
    if not leaves:
        return None
    path = rng.choice(preferred if preferred and rng.random() < 0.7 else leaves)
    key = path[-1]
    assert isinstance(key, str)
    iri = env.iri(path)
    assert iri is not None
    node = get(doc, path[:-1])
    forged = _forged_like(node[key])
    env.rename_to_iri(doc, path, iri)
    choice = rng.randrange(6)
    if choice == 0:
        ctx: Any = {key: "_:b0"}
    elif choice == 1:
        ctx = {key: {"@id": "_:b0"}}
    elif choice == 2:
        ctx = {"@vocab": "_:"}
        node.pop(key, None)
        key = key + "Forged"
    elif choice == 3:
        ctx = {key: {"@id": "_:b0", "@protected": False}}
    elif choice == 4:
        ctx = [None, {key: "_:b0"}]
    else:
        ctx = {"Forged": {"@id": "https://evil.example/Forged", "@context": {key: "_:b0"}}}
        node["type"] = [*node.get("type", []), "Forged"] if isinstance(node.get("type"), list) else ["Forged"]
    node[key] = forged
    items = [("@context", ctx), *((k, v) for k, v in node.items() if k != "@context")]
    node.clear()
    node.update(items)
    return f"{json.dumps(ctx)} {render(path)}", doc


def _forged_like(value: Any) -> Any:
    if isinstance(value, str):
        return "4.00" if value[:1].isdigit() and "." in value else "Lê Văn Giả"
    if isinstance(value, dict):
        return {k: _forged_like(v) if k not in ("type", "id") else v for k, v in value.items()} | {"id": "urn:x:forged node"}
    if isinstance(value, list):
        return [_forged_like(v) for v in value]
    return value


VALUE_OBJECTS: list[tuple[str, Callable[[Any], Any]]] = [
    ("@direction", lambda v: {"@value": v, "@direction": "rtl"}),
    ("@direction+@language", lambda v: {"@value": v, "@language": "vi", "@direction": "ltr"}),
    ("@language", lambda v: {"@value": v, "@language": "vi"}),
    ("@language-bad", lambda v: {"@value": v, "@language": "not a tag!"}),
    ("@value-null", lambda v: {"@value": None}),
    ("lone-@language", lambda v: {"@language": "vi"}),
    ("lone-@direction", lambda v: {"@direction": "rtl"}),
    ("@type-xsd-string", lambda v: {"@value": v, "@type": XSD + "string"}),
    ("@type-xsd-date", lambda v: {"@value": v, "@type": XSD + "date"}),
    ("@type-@json", lambda v: {"@value": v, "@type": "@json"}),
    ("@type-relative", lambda v: {"@value": v, "@type": "relative"}),
    ("@type-blank", lambda v: {"@value": v, "@type": "_:t"}),
    ("@index", lambda v: {"@value": v, "@index": "x"}),
    ("@value-object", lambda v: {"@value": {"nested": v}}),
    ("@value-array", lambda v: {"@value": [v]}),
    ("@id-instead", lambda v: {"@id": v if isinstance(v, str) else "urn:x"}),
    ("@set", lambda v: {"@set": [v]}),
    ("@list", lambda v: {"@list": [v]}),
    ("@json-literal", lambda v: {"@value": {"forged": True}, "@type": "@json"}),
]


def keyword_value(rng: random.Random, doc: dict[str, Any], env: Env) -> tuple[str, Any] | None:
    """A value as a value object or container: lossy ones (``@direction``, ``{"@value": null}``, a lone
    ``@language``) change nothing in the signed data for a lax processor while the JSON shows something else."""
    paths = [p for p in _paths(doc, leaves=True) if isinstance(p[-1], str) and p[-1] not in ("id", "type")]
    path = rng.choice(paths)
    label, make = rng.choice(VALUE_OBJECTS)
    set_(doc, path, make(get(doc, path)))
    return f"{label} {render(path)}", doc


INLINE_CONTEXTS: list[tuple[str, Any]] = [
    ("@vocab-null", {"@vocab": None}),
    ("@vocab-evil", {"@vocab": "https://evil.example/#"}),
    ("@vocab-blank", {"@vocab": "_:"}),
    ("@base", {"@base": "https://evil.example/"}),
    ("@base-null", {"@base": None}),
    ("redefine-name", {"name": "https://evil.example/name"}),
    ("redefine-gpa-blank", {"gpa": "_:x"}),
    ("term-to-blank", {"forgedTerm": "_:x"}),
    ("@protected-false", {"@protected": False, "classification": "https://evil.example/c"}),
    ("@version", {"@version": 1.1}),
    ("@propagate", {"@propagate": False}),
    ("@import", {"@import": "https://vet.gov.vn/ns/credentials/v1"}),
    ("null-context", None),
    ("scoped-@type", {"AchievementSubject": {"@id": "https://evil.example/AS", "@context": {"gpa": "_:g"}}}),
    ("@language-default", {"@language": "vi"}),
    ("@direction-default", {"@direction": "rtl"}),
]


def keyword_node(rng: random.Random, doc: dict[str, Any], env: Env) -> tuple[str, Any] | None:
    """JSON-LD keywords on a node: ids that are not IRIs, inline contexts, ``@graph``, ``@included``, ``@nest``,
    ``@reverse``, containers."""
    paths = [p for p in _objects(doc) if p[:1] != ["proof"]]
    path = rng.choice(paths)
    node = get(doc, path)
    choice = rng.randrange(12)
    if choice == 0:
        new_id = rng.choice(WEIRD_IDS)
        node[rng.choice(["id", "@id"]) if "id" not in node else "id"] = new_id
        return f"id={json.dumps(new_id)} {render(path)}", doc
    if choice == 1:
        label, ctx = rng.choice(INLINE_CONTEXTS)
        node["@context"] = copy.deepcopy(ctx)
        # a node's own context is processed before its keys: keep it first, as a forger would write it
        items = [("@context", node.pop("@context")), *node.items()]
        node.clear()
        node.update(items)
        return f"inline-context {label} {render(path)}", doc
    if choice == 2 and path:
        set_(doc, path, {"@graph": [node]})
        return f"@graph-wrap {render(path)}", doc
    if choice == 3:
        node["@included"] = [{"id": rng.choice(WEIRD_IDS), "type": ["AchievementSubject"], "name": "Lê Văn Giả", "gpa": "4.00"}]
        return f"@included {render(path)}", doc
    if choice == 4:
        movable = [k for k in node if not k.startswith("@") and k not in ("id", "type")]
        if not movable:
            return None
        keys = rng.sample(movable, k=min(len(movable), rng.randint(1, 3)))
        node["@nest"] = {k: node.pop(k) for k in keys}
        return f"@nest {render(path)} {keys}", doc
    if choice == 5:
        node["@reverse"] = {SCHEMA + "knows": {"id": rng.choice(WEIRD_IDS), "name": "Lê Văn Giả"}}
        return f"@reverse {render(path)}", doc
    if choice == 6:
        node["@type"] = rng.choice(["_:t", "relative", "https://evil.example/T", ["AchievementSubject", "x y"], 5])
        return f"@type {render(path)}", doc
    if choice == 7:
        node["@language"] = "vi"
        return f"lone-@language-on-node {render(path)}", doc
    if choice == 8:
        arrays = [k for k, v in node.items() if isinstance(v, list) and k not in ("@context", "type")]
        if not arrays:
            return None
        key = rng.choice(arrays)
        container = rng.choice(["@list", "@set"])
        node[key] = {container: node[key]}
        return f"{container} {render([*path, key])}", doc
    if choice == 9:
        node["@graph"] = [{"id": "urn:x:g", "name": "Lê Văn Giả"}]
        return f"@graph-add {render(path)}", doc
    if choice == 10:
        key = rng.choice([k for k in node if not k.startswith("@")] or ["x"])
        node[f"_:{key}"] = node.pop(key) if key in node else "x"
        return f"blank-node-key _:{key} {render(path)}", doc
    node["@json"] = {"forged": True}
    return f"@json-key {render(path)}", doc


FORGED_IDS = ["urn:vet:subject forged", "http://example.org/a b", "urn:x:<forged>", "forged-subject", "urn:x:{f}",
              "#forged", "", "_:forged", None]


def forged_subject(rng: random.Random, doc: dict[str, Any], env: Env) -> tuple[str, Any] | None:
    """The real subject (or achievement, or signer) moved under its full-IRI key, a forged one put where readers
    look — with an id JSON-LD cannot use (a lax processor drops the forged node and every triple pointing at it)."""
    target = rng.choice(["credentialSubject", "credentialSubject", "achievement", "signer", "subject-array"])
    forged_id = rng.choice(FORGED_IDS)
    forged = copy.deepcopy(FORGED_SUBJECT)
    if target == "achievement":
        path: Path = [*_subject_path(doc), "achievement"]
        forged = copy.deepcopy(FORGED_SUBJECT["achievement"])
    elif target == "signer":
        path = ["signer"]
        forged = {"name": "Nguyễn Văn Giả", "jobTitle": "Hiệu trưởng"}
    else:
        path = _subject_path(doc) if target == "credentialSubject" else ["credentialSubject"]
    if forged_id is not None:
        forged = {"id": forged_id, **forged}
    try:
        real = get(doc, path)
    except RecipeError:
        return None
    iri = env.iri(path)
    if iri is None:
        return None
    how = rng.randrange(3)
    parent = get(doc, path[:-1])
    if target == "subject-array":
        doc["credentialSubject"] = [forged, real] if how else [real, forged]
        return f"forged-subject-in-array id={json.dumps(forged_id)} order={'forged-first' if how else 'real-first'}", doc
    if how == 0:
        env.rename_to_iri(doc, path, iri)
        parent[path[-1]] = forged
        label = "real-under-full-iri"
    elif how == 1:
        env.rename_to_iri(doc, path, rng.choice(iri_tables.compact_forms(iri)))
        parent[path[-1]] = forged
        label = "real-under-compact-iri"
    else:
        parent[path[-1]] = forged
        parent.setdefault("@included", []).append(real)
        label = "real-in-@included"
    return f"{label} {render(path)} forged id={json.dumps(forged_id)}", doc


def status_entries(rng: random.Random, doc: dict[str, Any], env: Env) -> tuple[str, Any] | None:
    """Extra, fake, malformed and misplaced status entries: what a status check must understand or refuse. A
    credential issued with one entry (an object) keeps it an object unless the mutation adds entries."""
    if "credentialStatus" not in doc:
        return None
    single = isinstance(doc["credentialStatus"], dict)
    made = _status_mutation(rng, doc, env)
    status = doc.get("credentialStatus")
    if made is not None and single and isinstance(status, list) and len(status) == 1:
        doc["credentialStatus"] = status[0]
    return made


def _status_mutation(rng: random.Random, doc: dict[str, Any], env: Env) -> tuple[str, Any] | None:
    entries = _listified_status(doc)
    real = [e for e in entries if isinstance(e, dict)]
    if not real:
        return None
    entry = rng.choice(real)
    index = entries.index(entry)
    purpose = entry.get("statusPurpose") if isinstance(entry.get("statusPurpose"), str) else "revocation"
    choice = rng.randrange(14)
    if choice <= 2:
        clear = rng.choice(env.clear_entries.get(purpose) or [entry])
        fake = copy.deepcopy(clear)
        fake_id = rng.choice([*BAD_IDS, "_:s", None, entry.get("id"), "urn:x:fake-status"])
        if fake_id is None:
            fake.pop("id", None)
        else:
            fake["id"] = fake_id
        if rng.random() < 0.3:
            fake["type"] = rng.choice(["BitstringStatusListEntry", "StatusList2021Entry", "BitstringStatusListEntry2"])
        at = rng.choice([0, index, len(entries)])
        entries.insert(at, fake)
        return f"fake-{purpose}-entry id={json.dumps(fake_id)} at={at} type={fake.get('type')}", doc
    if choice == 3:
        label, new = rng.choice([("array", [purpose]), ("value-object", {"@value": purpose}), ("nested", {"statusPurpose": purpose}),
                                 ("upper", purpose.upper()), ("padded", f" {purpose}"), ("other", "message"),
                                 ("both", ["revocation", "suspension"]), ("null", None), ("list", {"@list": [purpose]})])
        entry["statusPurpose"] = new
        return f"statusPurpose-{label} entry {index}", doc
    if choice == 4:
        rename(doc, ["credentialStatus", index, "statusPurpose"], rng.choice([STATUS + "statusPurpose", "vet:statusPurpose"]))
        return f"statusPurpose-renamed entry {index}", doc
    if choice == 5:
        key = rng.choice(["statusListIndex", "statusListCredential", "type", "statusPurpose"])
        if key in entry and rng.random() < 0.5:
            entry[STATUS + key if key != "type" else "@type"] = entry.pop(key)
            return f"{key}-under-full-iri entry {index}", doc
        entry[key] = {"@value": entry.get(key)} if rng.random() < 0.5 else [entry.get(key)]
        return f"{key}-wrapped entry {index}", doc
    if choice == 6:
        value = rng.choice(["131072", "999999999", "-1", "1e3", "0x10", " 12", "12abc", "", "٣", "1_000", "00005", 5, 5.0,
                            "18446744073709551616", "NaN"])
        entry["statusListIndex"] = value
        return f"statusListIndex={json.dumps(value, ensure_ascii=False)} entry {index}", doc
    if choice == 7:
        other = next((u for p, u in env.list_urls.items() if p != purpose), None) or "x"
        url = rng.choice([other, other.replace("http://", "https://"), entry.get("statusListCredential", "") + "/",
                          "https://evil.example/status/1", "urn:x:list", entry.get("statusListCredential", "") + "#list"])
        entry["statusListCredential"] = url
        return f"statusListCredential-changed entry {index} → {url}", doc
    if choice == 8:
        if len(real) < 2:
            return None
        a, b = real[0], real[1]
        a["statusPurpose"], b["statusPurpose"] = b.get("statusPurpose"), a.get("statusPurpose")
        return "purposes-swapped", doc
    if choice == 9:
        entries.remove(entry)
        return f"entry-removed {purpose}", doc
    if choice == 10:
        doc["credentialStatus"] = entries[0] if len(entries) == 1 else rng.choice([entries[::-1], entries + [copy.deepcopy(entry)]])
        return f"entries-reordered-or-duplicated n={len(entries)}", doc
    if choice == 11:
        key = rng.choice([CRED + "credentialStatus", "https://www.w3.org/ns/credentials/v2#credentialStatus"])
        rename(doc, ["credentialStatus"], key)
        if rng.random() < 0.5:
            clear = rng.choice(env.clear_entries.get(purpose) or [entry])
            doc["credentialStatus"] = [dict(copy.deepcopy(clear), id=rng.choice(BAD_IDS))]
            return f"status-under-full-iri {key} plus-fake-under-credentialStatus", doc
        return f"status-under-full-iri {key}", doc
    if choice == 12:
        entry["type"] = rng.choice([["BitstringStatusListEntry"], "StatusList2021Entry", "RevocationList2020Status",
                                    ["BitstringStatusListEntry", "Other"], "bitstringstatuslistentry"])
        return f"entry-type={json.dumps(entry['type'])} entry {index}", doc
    doc["credentialStatus"] = {rng.choice(["@set", "@list"]): entries}
    return "status-in-container", doc


def _swap_terms(doc: dict[str, Any], subject: dict[str, Any], a: str, b: str, a_iri: str, b_iri: str,
                typed: dict[str, str]) -> None:
    """An inline context swapping the meanings of ``a`` and ``b``, with the JSON values swapped too: the RDF stays
    the signed one while the JSON says ``a`` is what was signed as ``b``."""
    definitions: dict[str, Any] = {}
    for term, iri in ((a, b_iri), (b, a_iri)):
        definitions[term] = {"@id": iri, "@type": typed[iri]} if iri in typed else iri
    contexts = doc["@context"] if isinstance(doc["@context"], list) else [doc["@context"]]
    doc["@context"] = [*contexts, definitions]
    subject[a], subject[b] = subject.get(b), subject.get(a)


def contexts(rng: random.Random, doc: dict[str, Any], env: Env) -> tuple[str, Any] | None:
    ctx = doc.get("@context")
    if not isinstance(ctx, list):
        return None
    choice = rng.randrange(11)
    subject = get(doc, _subject_path(doc)) if isinstance(doc.get("credentialSubject"), (dict, list)) else None
    if choice <= 2 and isinstance(subject, dict):
        pairs = [("birthDate", "decisionDate"), ("classification", "trainingMode"), ("gpa", "finalScore"),
                 ("birthPlace", "gender"), ("graduationDecision", "classification")]
        present = [(a, b) for a, b in pairs if a in subject and b in subject] or [(a, b) for a, b in pairs if a in subject]
        if not present:
            return None
        a, b = rng.choice(present)
        a_iri = env.iri([*_subject_path(doc), a]) or VET + a
        b_iri = env.iri([*_subject_path(doc), b]) or VET + b
        typed = {SCHEMA + "birthDate": XSD + "date", VET + "decisionDate": XSD + "date"}
        _swap_terms(doc, subject, a, b, a_iri, b_iri, typed)
        if subject.get(a) is None:
            del subject[a]
        if subject.get(b) is None:
            del subject[b]
        return f"inline-swap {a}↔{b}", doc
    if choice == 3:
        url = rng.choice(["https://evil.example/context.jsonld", "https://www.w3.org/2018/credentials/v1",
                          "https://w3id.org/security/data-integrity/v2", "https://purl.imsglobal.org/spec/ob/v3p0/extensions.json",
                          "https://www.w3.org/ns/credentials/status/v1", "https://vet.gov.vn/ns/credentials/v2",
                          "https://www.w3.org/ns/credentials/v2/", "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.2.json"])
        ctx.insert(rng.randrange(1, len(ctx) + 1), url)
        return f"extra-context {url}", doc
    if choice == 4:
        shuffled = ctx[:]
        while shuffled == ctx and len(ctx) > 1:
            rng.shuffle(shuffled)
        doc["@context"] = shuffled
        return f"contexts-reordered {shuffled}", doc
    if choice == 5:
        i = rng.randrange(len(ctx))
        removed = ctx.pop(i)
        return f"context-removed {removed}", doc
    if choice == 6:
        ctx.append(copy.deepcopy(ctx[-1]))
        return "context-duplicated", doc
    if choice == 7:
        # the platform's own context inline instead of by URL: the same definitions, not the same context document
        vet = next((c for c in ctx if isinstance(c, str) and c.startswith("https://vet.gov.vn/")), None)
        if vet is None:
            return None
        legacy = rng.random() < 0.5
        file = "vet-inline-legacy.json" if legacy else None
        inline = (json.loads((iri_tables.CONTEXTS / file).read_text(encoding="utf-8")) if file
                  else copy.deepcopy(iri_tables.bundled().get(vet)))
        if inline is None:
            return None
        ctx[ctx.index(vet)] = inline.get("@context", inline)
        return f"vet-context-inline {'legacy' if legacy else 'copy'}", doc
    if choice == 8:
        ctx.append(rng.choice([{"@vocab": "https://evil.example/#"}, {"@vocab": None}, {"@base": "https://evil.example/"},
                               {"classification": "https://evil.example/classification"}, {"gpa": {"@id": VET + "gpa", "@type": XSD + "decimal"}},
                               {"@version": 1.1}, {"@protected": True}, {}]))
        return f"inline-context-appended {json.dumps(ctx[-1])}", doc
    if choice == 9:
        doc["@context"] = rng.choice([VC_V2, ctx[0], ctx[1:], [*ctx[:1], *ctx[2:]], {"@context": ctx}])
        return f"context-shape {json.dumps(doc['@context'])[:80]}", doc
    ctx[0] = rng.choice(["https://www.w3.org/ns/credentials/v2#", "http://www.w3.org/ns/credentials/v2", VC_V2.upper(), VC_V2 + "/"])
    return f"first-context {ctx[0]}", doc


def proofs(rng: random.Random, doc: dict[str, Any], env: Env) -> tuple[str, Any] | None:
    proof = doc.get("proof")
    if not isinstance(proof, dict):
        return None
    choice = rng.randrange(12)
    if choice == 0:
        proof["cryptosuite"] = rng.choice(["eddsa-2022", "eddsa-jcs-2022", "ecdsa-rdfc-2019", "EdDSA-RDFC-2022", "", ["eddsa-rdfc-2022"]])
        return f"cryptosuite={json.dumps(proof['cryptosuite'])}", doc
    if choice == 1:
        proof["created"] = rng.choice(["2020-01-01T00:00:00Z", proof.get("created", "") + " ", "not a date", "2999-01-01T00:00:00Z"])
        return f"created={proof['created']}", doc
    if choice == 2:
        vm = proof.get("verificationMethod", "")
        proof["verificationMethod"] = rng.choice([
            vm.rsplit("#", 1)[0] + "#key-999", vm.rsplit("#", 1)[0], "did:web:evil.example#key-1",
            "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK#z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
            vm.upper(), {"id": vm}, vm + " "])
        return f"verificationMethod={json.dumps(proof['verificationMethod'])}", doc
    if choice == 3:
        proof["proofPurpose"] = rng.choice(["authentication", "capabilityInvocation", "assertion", ""])
        return f"proofPurpose={proof['proofPurpose']}", doc
    if choice == 4:
        value = proof.get("proofValue", "")
        i = rng.randrange(1, max(2, len(value)))
        proof["proofValue"] = rng.choice([
            value[:i] + ("1" if value[i:i + 1] != "1" else "2") + value[i + 1:], value[:-1], value + "1", "u" + value[1:],
            value[1:], "z", "", value.lower()])
        return "proofValue-changed", doc
    if choice == 5:
        second = copy.deepcopy(proof)
        if rng.random() < 0.5:
            second["proofValue"] = "z" + "1" * 86
        doc["proof"] = [proof, second]
        return "two-proofs", doc
    if choice == 6:
        doc["proof"] = [proof]
        return "proof-as-array", doc
    if choice == 7:
        del doc["proof"]
        return "no-proof", doc
    if choice == 8:
        key, value = rng.choice([("expires", "2030-01-01T00:00:00Z"), ("domain", "example.org"), ("challenge", "abc"),
                                 ("nonce", "1"), ("id", "urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8"), ("previousProof", "urn:x")])
        proof[key] = value
        return f"proof-extra {key}", doc
    if choice == 9:
        proof["@context"] = rng.choice([VC_V2, "https://w3id.org/security/data-integrity/v2", {"@vocab": "https://evil.example/"}])
        return "proof-@context", doc
    if choice == 10:
        proof["type"] = rng.choice(["Ed25519Signature2020", "DataIntegrityProof ", ["DataIntegrityProof"]])
        return f"proof-type={json.dumps(proof['type'])}", doc
    rename(doc, ["proof"], rng.choice(["https://w3id.org/security#proof", "sec:proof"]))
    return "proof-under-iri", doc


def unicode_text(rng: random.Random, doc: dict[str, Any], env: Env) -> tuple[str, Any] | None:
    paths = [p for p in _paths(doc, leaves=True) if isinstance(get(doc, p), str) and get(doc, p) and p[:1] != ["proof"]]
    named = [p for p in paths if p[-1] in ("name", "birthPlace", "issuePlace", "classification", "trainingMode", "jobTitle")]
    path = rng.choice(named if named and rng.random() < 0.7 else paths)
    s: str = get(doc, path)
    choice = rng.randrange(9)
    i = rng.randrange(len(s) + 1)
    if choice == 0:
        new, label = unicodedata.normalize("NFD", s), "NFD"
        if new == s:
            new, label = s + "\u0301", "combining-mark"
    elif choice == 1:
        c = rng.choice(CONTROL)
        new, label = s[:i] + c + s[i:], f"control-U+{ord(c):04X}"
    elif choice == 2:
        c = rng.choice(BIDI)
        new, label = rng.choice([c + s, s[:i] + c + s[i:]]), f"bidi-U+{ord(c):04X}"
    elif choice == 3:
        c = rng.choice(INVISIBLE)
        new, label = s[:i] + c + s[i:], f"invisible-U+{ord(c):04X}"
    elif choice == 4:
        c = rng.choice(ASTRAL)
        new, label = s[:i] + c + s[i:], f"astral-U+{ord(c[0]):05X}"
    elif choice == 5:
        swappable = [k for k in HOMOGLYPHS if k in s]
        if not swappable:
            return None
        k = rng.choice(swappable)
        new, label = s.replace(k, HOMOGLYPHS[k], 1), f"homoglyph-{k}"
    elif choice == 6:
        new, label = s[:i] + "\ud800" + s[i:], "lone-surrogate"
    elif choice == 7:
        new, label = unicodedata.normalize("NFKC", s.replace(" ", "\u00a0")), "nbsp"
    else:
        new, label = unicodedata.normalize("NFC", unicodedata.normalize("NFD", s)[::-1])[::-1], "nfc-reversed"
        if new == s:
            new, label = s + "\u00a0", "trailing-nbsp"
    set_(doc, path, new)
    return f"{label} {render(path)}", doc


#: family → (mutation, weight)
FAMILIES: dict[str, tuple[Mutation, int]] = {
    "value": (value_change, 2),
    "remove": (value_remove, 2),
    "add": (value_add, 2),
    "type": (type_change, 2),
    "iri": (iri_rename, 4),
    "keyword-value": (keyword_value, 4),
    "keyword-node": (keyword_node, 4),
    "forged-subject": (forged_subject, 3),
    "lossy-forgery": (lossy_forgery, 4),
    "blank-predicate": (blank_predicate, 3),
    "status": (status_entries, 5),
    "context": (contexts, 4),
    "proof": (proofs, 2),
    "unicode": (unicode_text, 3),
}
STATUS_BASES = ("revoked", "suspended")


def _fingerprint(doc: Any) -> str:
    return json.dumps(doc, sort_keys=False, ensure_ascii=True)


def generate(seed: int, count: int, env: Env, families: list[str] | None = None) -> list[Case]:
    """``count`` distinct cases (no case equal to a genuine credential or to another case). Every family comes up
    in turn first, then families are drawn by weight. Deterministic for a seed and the genuine credentials'
    structure."""
    rng = random.Random(seed)
    names = families or list(FAMILIES)
    weights = [FAMILIES[n][1] for n in names]
    bases = list(env.genuine)
    seen = {_fingerprint(doc) for doc in env.genuine.values()}
    cases: list[Case] = []
    attempts = 0
    while len(cases) < count and attempts < count * 20:
        attempts += 1
        family = names[len(cases)] if len(cases) < len(names) else rng.choices(names, weights)[0]
        if family == "status" and rng.random() < 0.7:
            base = rng.choice([b for b in bases if b in STATUS_BASES] or bases)
        else:
            base = rng.choice(bases)
        mutate, _ = FAMILIES[family]
        doc = copy.deepcopy(env.genuine[base])
        try:
            made = mutate(rng, doc, env)
        except (IndexError, ValueError, KeyError, RecipeError):
            made = None
        if made is None:
            continue
        label, mutated = made
        fingerprint = _fingerprint(mutated)
        if fingerprint in seen:
            continue
        seen.add(fingerprint)
        cases.append(Case(name=f"{len(cases):04d} {family}/{label} @{base}", family=family, base=base, document=mutated))
    return cases
