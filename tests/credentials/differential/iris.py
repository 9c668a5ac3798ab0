"""What each key of a genuine credential means as an IRI under its contexts, so that a mutation can rename a key to
its full IRI (``credentialSubject`` → ``https://www.w3.org/2018/credentials#credentialSubject``) or to a compact
IRI (``gpa`` → ``vet:gpa``) — the same RDF, different JSON: exactly what a verifier reading JSON keys gets wrong.

Found by expansion, not written down: the value at one path is replaced by a unique marker, the document expanded
with pyld (the bundled contexts, never fetched), and the predicate the marker ends up under is that key's IRI. Used
only on genuine credentials, where nothing is dropped; a key whose IRI cannot be found this way is left out."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path as FsPath
from typing import Any

from pyld import jsonld

from tests.credentials.differential.jsondoc import Path, set_, walk

CONTEXTS = FsPath(__file__).resolve().parents[3] / "services" / "credentials" / "contexts"
KEYWORD_ALIASES = {"id": "@id", "type": "@type"}
_MARKER = "urn:x-differential:marker"


@cache
def bundled() -> dict[str, Any]:
    index = json.loads((CONTEXTS / "index.json").read_text(encoding="utf-8"))
    return {url: json.loads((CONTEXTS / e["file"]).read_text(encoding="utf-8")) for url, e in index["contexts"].items()}


def _loader(url: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    if url not in bundled():
        raise jsonld.JsonLdError(f"not bundled: {url}", "jsonld.LoadDocumentError", code="loading document failed")
    return {"contextUrl": None, "documentUrl": url, "document": copy.deepcopy(bundled()[url])}


def _predicate_of_marker(node: Any, predicate: str | None = None) -> tuple[str, str | None] | None:
    """(predicate, how the value was coerced: ``@id``, a datatype IRI or None) of the marker in an expanded
    document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("@value", "@id") and value == _MARKER and predicate:
                return predicate, "@id" if key == "@id" else node.get("@type")
            found = _predicate_of_marker(value, predicate if key.startswith("@") else key)
            if found:
                return found
    elif isinstance(node, list):
        for item in node:
            found = _predicate_of_marker(item, predicate)
            if found:
                return found
    return None


def _shape(path: Path) -> tuple[str | int, ...]:
    return tuple(0 if isinstance(s, int) else s for s in path)


Terms = dict[tuple[str | int, ...], tuple[str, str | None]]


def full_iris(doc: dict[str, Any], known: Terms | None = None) -> Terms:
    """Key path (array indexes as 0) → (the key's IRI, its value's coercion: ``@id``, a datatype IRI or None), for
    every key of ``doc`` outside ``@context`` and the proof. ``known``: the table of a credential of the same
    contexts and types (its entries are taken as they are)."""
    found: Terms = dict(known or {})
    for path, _ in walk(doc):
        if not path or not isinstance(path[-1], str) or path[0] in ("@context", "proof"):
            continue
        key = path[-1]
        if key in KEYWORD_ALIASES or key.startswith("@") or _shape(path) in found:
            continue
        probe = copy.deepcopy(doc)
        set_(probe, path, _MARKER)
        try:
            expanded = jsonld.expand(probe, {"documentLoader": _loader, "base": ""})
        except jsonld.JsonLdError:
            continue
        term = _predicate_of_marker(expanded)
        if term and term[0] != key:
            found[_shape(path)] = term
    return found


def as_expanded_value(value: Any, coercion: str | None) -> Any:
    """The value to put under a key's full IRI so that it means what it meant under the key: a string the term
    coerced to an IRI or a datatype is written as ``{"@id": …}`` or ``{"@value": …, "@type": …}``."""
    if coercion is None or not isinstance(value, str):
        return value
    return {"@id": value} if coercion == "@id" else {"@value": value, "@type": coercion}


@cache
def prefixes() -> dict[str, str]:
    """Prefix → IRI of the terms the credentials' top-level contexts define that can be used as prefixes (an IRI
    ending in ``/`` or ``#``): for compact IRIs such as ``vet:gpa``."""
    out: dict[str, str] = {}
    for url in ("https://www.w3.org/ns/credentials/v2", "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
                "https://vet.gov.vn/ns/credentials/v1"):
        ctx = bundled()[url]["@context"]
        for term, definition in ctx.items():
            iri = definition if isinstance(definition, str) else definition.get("@id") if isinstance(definition, dict) else None
            if isinstance(iri, str) and iri.startswith("http") and iri[-1] in "/#" and ":" not in term:
                out.setdefault(term, iri)
    return out


def compact_forms(iri: str) -> list[str]:
    """``prefix:suffix`` forms of ``iri`` by the known prefixes, and one with an undefined prefix (``schema:name``
    is an absolute IRI of scheme ``schema``, not schema.org's name)."""
    forms = [f"{p}:{iri[len(base):]}" for p, base in prefixes().items() if iri.startswith(base) and len(iri) > len(base)]
    tail = iri.rstrip("/#").rsplit("/", 1)[-1].rsplit("#", 1)[-1]
    forms.append(f"undefinedprefix:{tail}")
    return forms
