"""Canonical N-Quads terms and RDFC-1.0 — first version: exact escaping, strict IRIs, the unique-hash case (datasets
whose blank nodes need the N-degree algorithm are refused with CanonicalizationLimit until the full algorithm lands)."""
from __future__ import annotations
import hashlib
from collections.abc import Iterable
import pyoxigraph

Quad = tuple[str, str, str, "str | None"]
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
RDF_LANGSTRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"

class InvalidIri(ValueError):
    pass

class CanonicalizationLimit(Exception):
    pass

_ECHAR = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}
_TABLE = {i: f"\\u{i:04X}" for i in list(range(0x20)) + [0x7F]}
_TABLE.update({ord(k): v for k, v in _ECHAR.items()})

def literal(value: str, datatype: str | None = None, language: str | None = None) -> str:
    out = '"' + value.translate(_TABLE) + '"'
    if language:
        return out + "@" + language
    if datatype and datatype != XSD_STRING:
        return out + "^^" + iri(datatype)
    return out

def iri(value: str) -> str:
    try:
        pyoxigraph.NamedNode(value)
    except ValueError:
        raise InvalidIri(value) from None
    if any(c in value for c in ' <>"{}|^`\\') or any(ord(c) <= 0x20 for c in value):
        raise InvalidIri(value)
    return "<" + value + ">"

def canonicalize(quads: Iterable[Quad]) -> str:
    from services.credentials.proofs.shapes import canonical_nquads
    quads = list(dict.fromkeys(quads))
    out = canonical_nquads(quads)
    if out is None:
        raise CanonicalizationLimit("stub")
    return out
