"""JSON-LD in safe mode: what the platform signs and verifies is exactly what the JSON says, or the document is refused.

JSON-LD processors drop, without a word, what they cannot map: a node whose ``id`` is not an IRI (with every triple
that points at it), a property that maps to a blank node, a value object with ``@direction`` or a null ``@value``.
Dropped data is not signed, so a forger can put it where readers look and keep a valid signature. The W3C reference
verifier runs its processor in a "safe mode" that turns each such event into an error; pyld has no such mode, so the
checks are made here, on the data as it flows:

1. :func:`precheck` — the JSON itself, before any processing: only known contexts (by URL, or the one legacy inline
   context by content); no JSON-LD keyword and no IRI as a property name (credentials use their contexts' terms);
   no null, empty object, nested array, lone surrogate, or number a JavaScript verifier would read differently;
   bounded depth and size. Each refusal names the JSON path.
2. :func:`expand_checked` — pyld's expansion (an undefined term is refused, not dropped), then the expanded form is
   checked strictly: every node id, type and property an absolute IRI (RFC 3987; never a blank-node property, never a
   term left to the VC context's issuer-dependent ``@vocab``), value objects only ``@value`` with a datatype, lists;
   any other JSON-LD feature is refused. Last, the expanded form is compacted again with the document's own contexts
   and must give back the document: a property given under a full IRI, an alias, a value JSON-LD reads otherwise, or
   anything dropped on the way shows up as a difference at its path.

Both run on the per-shape skeleton of :mod:`.shapes` (placeholders for ordinary strings) once per shape, and on the
whole document when it is not templatable; the values filled into a template are checked per document there (IRIs
by :func:`.canon.iri`)."""

from __future__ import annotations

import json
import math
import re
from functools import cache
from typing import Any

from services.credentials.proofs import canon

#: the VC 2.0 context's ``@vocab``: a term no context defines expands under it ("issuer-dependent"); refused here
ISSUER_DEPENDENT = "https://www.w3.org/ns/credentials/issuer-dependent#"
#: Unicode private-use code point delimiting the skeleton's placeholders (:mod:`.shapes`): such strings are checked
#: when the template is filled, not here
MARK = "\ue000"
MAX_DEPTH = 24
#: JSON values and objects in one document: a diploma holds ~120 values in ~12 objects; the processing of each
#: object (a node of the RDF graph) grows faster than linearly (1,000 objects cost ~1 s of CPU), so an anonymous
#: verification is bounded well below that
MAX_NODES = 4_096
MAX_OBJECTS = 256
#: integers a JavaScript verifier reads exactly (IEEE double), and so every float it formats as we do
MAX_SAFE_NUMBER = 2**53
_SURROGATE = re.compile("[\ud800-\udfff]")
#: keywords an expanded credential may hold; anything else (``@graph``, ``@reverse``, ``@included``, ``@index``,
#: ``@language``, ``@direction``, ``@json`` …) is a feature the platform's credentials never use
_NODE_KEYWORDS = frozenset({"@id", "@type"})


class Malformed(Exception):
    """The document cannot be signed or verified as it is: ``path`` (JSONPath) names the offending part."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def _key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else f"{path}[{json.dumps(key, ensure_ascii=False)}]"


@cache
def _legacy_inline() -> dict[str, Any]:
    from services.credentials.proofs.contexts import CONTEXT_DIR

    return json.loads((CONTEXT_DIR / "vet-inline-legacy.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def allowed_contexts() -> frozenset[str]:
    from services.credentials.proofs.contexts import DATA_INTEGRITY_V2, OB_V3, STATUS_LIST_V1, VC_V2, VET_V1

    return frozenset({VC_V2, OB_V3, VET_V1, STATUS_LIST_V1, DATA_INTEGRITY_V2})


def _check_contexts(contexts: Any) -> None:
    from services.credentials.proofs.contexts import VC_V2

    if not isinstance(contexts, list) or not contexts or contexts[0] != VC_V2:
        raise Malformed('$["@context"]', f"must be a list starting with {VC_V2} (VC Data Model 2.0)")
    known = allowed_contexts()
    seen: set[str] = set()
    for i, context in enumerate(contexts):
        path = f'$["@context"][{i}]'
        if isinstance(context, str):
            if context not in known:
                raise Malformed(path, f"the JSON-LD context {context} is not one this platform knows; contexts are never fetched")
            if context in seen:
                raise Malformed(path, f"the context {context} is named twice")
            seen.add(context)
        elif isinstance(context, dict):
            # credentials issued before the platform's context document named their terms inline: that one object,
            # exactly, is still accepted; any other inline context could redefine terms after signing
            if context != _legacy_inline():
                raise Malformed(path, "inline contexts are not accepted (the platform's terms are in https://vet.gov.vn/ns/credentials/v1)")
        else:
            raise Malformed(path, "a context is named by its URL")


def precheck(document: Any) -> None:
    """Refuses, with the JSON path, what no credential of the platform holds and JSON-LD would read lossily."""
    if not isinstance(document, dict):
        raise Malformed("$", "a credential is a JSON object")
    _check_contexts(document.get("@context"))
    count = objects = 0

    def walk(node: Any, path: str, depth: int) -> None:
        nonlocal count, objects
        count += 1
        if count > MAX_NODES:
            raise Malformed(path, f"the document has more than {MAX_NODES} values")
        if depth > MAX_DEPTH:
            raise Malformed(path, f"the document is nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, dict):
            if not node:
                raise Malformed(path, "an empty object carries nothing that can be signed")
            objects += 1
            if objects > MAX_OBJECTS:
                raise Malformed(path, f"the document has more than {MAX_OBJECTS} objects")
            for key, value in node.items():
                if depth == 0 and key == "@context":
                    continue
                child = _key_path(path, key)
                if not key or key.startswith("@"):
                    raise Malformed(child, "JSON-LD keywords are not accepted in a credential (its contexts define every property)")
                if ":" in key or "/" in key or key.startswith("_"):
                    raise Malformed(child, "a property is named by its term, not by an IRI or a blank node")
                if _SURROGATE.search(key):
                    raise Malformed(child, "the property name is not valid Unicode text")
                walk(value, child, depth + 1)
        elif isinstance(node, list):
            if not node:
                raise Malformed(path, "an empty list carries nothing that can be signed")
            for i, item in enumerate(node):
                if isinstance(item, list):
                    raise Malformed(f"{path}[{i}]", "a list inside a list is not accepted")
                walk(item, f"{path}[{i}]", depth + 1)
        elif isinstance(node, str):
            if _SURROGATE.search(node):
                raise Malformed(path, "the text is not valid Unicode (a lone surrogate)")
        elif isinstance(node, bool):
            return
        elif isinstance(node, int):
            if abs(node) >= MAX_SAFE_NUMBER:
                raise Malformed(path, "integers must be smaller than 2^53 in magnitude (JavaScript verifiers read larger ones inexactly)")
        elif isinstance(node, float):
            if not math.isfinite(node) or abs(node) >= MAX_SAFE_NUMBER or (node == 0 and math.copysign(1, node) < 0):
                raise Malformed(path, "the number cannot be represented the same way by every verifier")
        elif node is None:
            raise Malformed(path, "null is not accepted (JSON-LD drops it, so it would not be signed)")
        else:  # pragma: no cover - json.loads gives nothing else
            raise Malformed(path, "not a JSON value")

    walk(document, "$", 0)


def path_of(document: Any, value: str) -> str:
    """The JSON path of the first occurrence of the string ``value`` (or of a property named so), for messages."""
    found: list[str] = []

    def walk(node: Any, path: str) -> bool:
        if isinstance(node, dict):
            for key, child in node.items():
                if key == "@context":
                    continue
                if key == value:
                    found.append(_key_path(path, key))
                    return True
                if walk(child, _key_path(path, key)):
                    return True
        elif isinstance(node, list):
            return any(walk(item, f"{path}[{i}]") for i, item in enumerate(node))
        elif node == value:
            found.append(path)
            return True
        return False

    walk(document, "$")
    return found[0] if found else "$"


def _check_iri(document: Any, value: Any, what: str) -> None:
    if not isinstance(value, str):
        raise Malformed("$", f"{what} is not an IRI")
    if MARK in value:
        return  # a placeholder: the value filled in is checked then
    if value.startswith(ISSUER_DEPENDENT):
        term = value[len(ISSUER_DEPENDENT):]
        raise Malformed(path_of(document, term), f"{term!r} is not defined by the credential's contexts")
    try:
        canon.iri(value)
    except canon.InvalidIri:
        raise Malformed(path_of(document, value), f"{what} {value!r} is not a valid absolute IRI (JSON-LD would drop it unsigned)") from None


def check_expanded(document: Any, expanded: Any) -> None:
    """Every part of pyld's expanded form is one the RDF conversion keeps (see the module notes)."""

    def node(item: Any) -> None:
        if not isinstance(item, dict):
            raise Malformed("$", "the document expands to something that is not a node")
        if "@value" in item:
            value(item)
            return
        if "@list" in item:
            if set(item) != {"@list"}:
                raise Malformed("$", "a list object carries other keywords")
            for member in item["@list"]:
                node(member)
            return
        for key, values in item.items():
            if key.startswith("@"):
                if key not in _NODE_KEYWORDS:
                    raise Malformed(path_of(document, key), f"the JSON-LD feature {key} is not accepted in a credential")
                if key == "@id":
                    _check_iri(document, values, "the node id")
                else:
                    for t in values:
                        _check_iri(document, t, "the type")
                continue
            _check_iri(document, key, "the property")
            for member in values:
                node(member)

    def value(item: dict[str, Any]) -> None:
        extra = set(item) - {"@value", "@type"}
        if extra:
            raise Malformed(path_of(document, str(item.get("@value"))), f"the value carries {', '.join(sorted(extra))}, which is not signed as given")
        if not isinstance(item["@value"], (str, int, float, bool)):
            raise Malformed(path_of(document, str(item.get("@value"))), "the value is not a string, number or boolean")
        if "@type" in item:
            if item["@type"] == "@json":
                raise Malformed(path_of(document, str(item.get("@value"))), "JSON literals are not accepted in a credential")
            _check_iri(document, item["@type"], "the datatype")

    for item in expanded if isinstance(expanded, list) else [expanded]:
        node(item)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def first_difference(original: Any, compacted: Any, path: str = "$") -> str | None:
    """The path where the document and its re-compacted expansion differ (a one-element list equals its element:
    compaction writes either), or ``None``."""
    if isinstance(original, list) or isinstance(compacted, list):
        a, b = _as_list(original), _as_list(compacted)
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            where = first_difference(x, y, f"{path}[{i}]")
            if where is not None:
                return where
        return None if len(a) == len(b) else f"{path}[{min(len(a), len(b))}]"
    if isinstance(original, dict) and isinstance(compacted, dict):
        for key in original:
            if key == "@context":
                continue
            if key not in compacted:
                return _key_path(path, key)
            where = first_difference(original[key], compacted[key], _key_path(path, key))
            if where is not None:
                return where
        for key in compacted:
            if key != "@context" and key not in original:
                return _key_path(path, key)
        return None
    if type(original) is not type(compacted) or original != compacted:
        return path
    return None
