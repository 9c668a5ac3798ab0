"""RDF canonicalisation by document shape: the JSON-LD work done once per shape, not once per document.

Every diploma of a programme has the same keys, nesting, types and contexts; only values differ (names, dates,
ids). JSON-LD expansion and conversion to RDF depend on the values only where a value is read as an IRI or a
keyword. So a document is split into a *skeleton* — keys, structure, contexts, types, numbers, and every string
whose handling could depend on its text — and its ordinary string values, each replaced by a unique placeholder
of the same class (an absolute IRI with the same scheme and the same ``//`` form, or plain text). pyld converts the
skeleton to RDF once; the quads in which a placeholder appears verbatim become slots. Later documents of the same
shape fill the slots with their own values and are canonicalised (RDFC-1.0) without pyld's expansion.

A placeholder that pyld transformed (a vocabulary-relative or relative IRI, a JSON literal, an ``xsd:double``
literal whose text pyld rewrites) or dropped marks its value as one that shapes the output: that value then
belongs to the skeleton and the shape is learnt again. Filled IRIs must stay distinct from each other and from the
skeleton's own node IRIs (otherwise pyld would have merged nodes): when they are not, or when the document cannot
be handled here at all, the caller falls back to pyld for that document. The result is byte-for-byte pyld's
(``tests/credentials/test_shapes.py`` compares the two on many documents).

Canonical blank-node labels are issued here when every blank node has a distinct first-degree hash (always the case
for credentials, whose blank nodes are distinct nested objects); anything else goes to the full algorithm (:mod:`.canon`)."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cachetools import LRUCache

from services.credentials.proofs import canon
from services.credentials.proofs.safemode import Malformed, path_of

#: Unicode private-use code point delimiting placeholders; documents containing it are left to pyld
MARK = "\ue000"
_PLACEHOLDER = re.compile(MARK + r"(\d+)" + MARK)
#: pyld's test for an absolute IRI (``jsonld._is_absolute_iri``)
_ABSOLUTE_IRI = re.compile(r"^([A-Za-z][A-Za-z0-9+-.]*|_):[^\s]*$")
#: values of these keys steer processing (contexts, types, languages): always part of the skeleton
_STEERING_KEYS = frozenset({"@context", "type", "@type", "@language", "@direction", "@base", "@vocab", "@index"})
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
XSD_DOUBLE = "http://www.w3.org/2001/XMLSchema#double"
RDF_LANGSTRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
_MAX_LEARNING_ROUNDS = 8


class NotTemplatable(Exception):
    """This document takes the full path (:func:`.contexts.canonize_full`)."""


class _Refused(Exception):
    """Safe mode refuses the skeleton of this shape and frozen values."""


def _context_terms(context: Any, into: set[str]) -> None:
    if isinstance(context, list):
        for item in context:
            _context_terms(item, into)
    elif isinstance(context, dict):
        for key, value in context.items():
            into.add(key)
            if isinstance(value, dict) and "@context" in value:
                _context_terms(value["@context"], into)


def bundled_terms(bundled: dict[str, Any]) -> frozenset[str]:
    """Every term and prefix the bundled contexts define, their scoped contexts included."""
    terms: set[str] = set()
    for document in bundled.values():
        _context_terms(document.get("@context"), terms)
    return frozenset(terms)


# --- skeleton ----------------------------------------------------------------------------------------------------


class _Walk:
    """Builds the skeleton of a document: ordinary strings become placeholders (their values kept in order in
    ``values``), everything else stays; ``frozen`` holds the indexes of strings learnt to shape the output."""

    def __init__(self, terms: frozenset[str], embedded_terms: set[str], frozen: frozenset[int]) -> None:
        self.terms = terms
        self.embedded_terms = embedded_terms
        self.frozen = frozen
        self.values: list[str] = []
        self.kinds: list[str] = []

    def node(self, node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            if "@context" in node:  # its terms first: they decide how this node's strings are classed
                _context_terms(node["@context"], self.embedded_terms)
            for key, value in node.items():
                if MARK in key:
                    raise NotTemplatable
                if key in _STEERING_KEYS:
                    out[key] = value
                else:
                    out[key] = self.node(value)
            return out
        if isinstance(node, list):
            return [self.node(item) for item in node]
        if isinstance(node, str):
            return self.string(node)
        return node  # numbers, booleans and null are part of the skeleton

    def string(self, value: str) -> str:
        if MARK in value:
            raise NotTemplatable
        if value.startswith("@"):
            return value  # keyword-like
        if _ABSOLUTE_IRI.match(value):
            scheme, _, rest = value.partition(":")
            if scheme == "_" or value in self.terms or value in self.embedded_terms:
                return value  # a blank node label, or a term that a vocabulary position would expand
            index = len(self.values)
            self.values.append(value)
            if index in self.frozen:
                self.kinds.append("frozen")
                return value
            self.kinds.append("iri")
            return f"{scheme}:{'//' if rest.startswith('//') else ''}{MARK}{index}{MARK}"
        index = len(self.values)
        self.values.append(value)
        if index in self.frozen:
            self.kinds.append("frozen")
            return value
        self.kinds.append("text")
        return f"{MARK}{index}{MARK}"


# --- templates ---------------------------------------------------------------------------------------------------

#: a quad component: a constant N-Quads term (``<iri>``, ``_:b0``, ``"lit"^^<dt>``), or a slot
#: ``(index, suffix)`` — ``suffix is None`` for an IRI, else the literal's ``^^<dt>`` / ``@lang`` / ``""``
Component = str | tuple[int, str | None] | None


@dataclass
class Template:
    quads: list[tuple[Component, Component, Component, Component]]
    #: slots filled with IRIs (node ids): their values must be distinct and not among ``node_iris``
    iri_slots: tuple[int, ...]
    node_iris: frozenset[str]


#: the template of a skeleton that safe mode refuses
_REFUSED = Template([], (), frozenset())


@dataclass
class Shape:
    frozen: frozenset[int] = frozenset()
    templates: LRUCache[tuple[str, ...], Template] = field(default_factory=lambda: LRUCache(maxsize=64))
    #: pyld could not process the skeleton, or the shape did not settle: always pyld
    untemplatable: bool = False


def _term(component: dict[str, Any]) -> str:
    """Canonical N-Quads form of a constant subject / predicate / object (:mod:`.canon`); a term still holding a
    placeholder is written raw (it marks its placeholder as one that shapes the output, and the template is
    learnt again)."""
    if component["type"] == "IRI":
        value = component["value"]
        return "<" + value + ">" if MARK in value else canon.iri(value)
    if component["type"] == "blank node":
        return component["value"]  # type: ignore[no-any-return]
    return canon.literal(component["value"]) + _literal_suffix(component)


def _literal_suffix(component: dict[str, Any]) -> str:
    datatype = component["datatype"]
    if datatype == RDF_LANGSTRING:
        return "@" + component["language"] if component.get("language") else ""
    if datatype != XSD_STRING:
        return "^^<" + datatype + ">"
    return ""


def _marks(text: str | None) -> list[int]:
    return [int(i) for i in _PLACEHOLDER.findall(text)] if text and MARK in text else []


def _compile(dataset: dict[str, list[dict[str, Any]]], placeholders: dict[str, int]) -> tuple[Template, set[int]]:
    """The template of a skeleton's RDF, and the indexes of placeholders that did not come through verbatim."""
    bad: set[int] = set()
    seen: set[int] = set()
    iri_slots: set[int] = set()
    node_iris: set[str] = set()

    def node(value: str, kind: str) -> Component:
        if kind == "blank node":
            return value
        index = placeholders.get(value)
        if index is not None:
            seen.add(index)
            iri_slots.add(index)
            return (index, None)
        bad.update(_marks(value))
        node_iris.add(value)
        return "<" + value + ">" if MARK in value else canon.iri(value)

    quads: list[tuple[Component, Component, Component, Component]] = []
    for graph_name, triples in dataset.items():
        graph: Component = None
        if graph_name != "@default":
            graph = node(graph_name, "blank node" if graph_name.startswith("_:") else "IRI")
        for triple in triples:
            s, p, o = triple["subject"], triple["predicate"], triple["object"]
            bad.update(_marks(p["value"]))
            subject = node(s["value"], s["type"])
            if o["type"] == "literal":
                suffix = _literal_suffix(o)
                bad.update(_marks(o.get("datatype")) + _marks(o.get("language")))
                index = placeholders.get(o["value"])
                if index is not None and o["datatype"] != XSD_DOUBLE:
                    seen.add(index)
                    obj: Component = (index, suffix)
                else:
                    bad.update(_marks(o["value"]))
                    obj = _term(o)
            else:
                obj = node(o["value"], o["type"])
            quads.append((subject, _term(p), obj, graph))
    # a placeholder that vanished (its value was dropped or consumed by processing) also shapes the output
    bad.update(set(placeholders.values()) - seen)
    return Template(quads, tuple(sorted(iri_slots)), frozenset(node_iris)), bad


# --- canonical N-Quads -------------------------------------------------------------------------------------------


def _line(s: str, p: str, o: str, g: str | None) -> str:
    return f"{s} {p} {o} {g} .\n" if g is not None else f"{s} {p} {o} .\n"


def canonical_nquads(quads: list[tuple[str, str, str, str | None]]) -> str | None:
    """RDFC-1.0 of a dataset whose blank nodes all have distinct first-degree hashes; ``None`` otherwise (the
    caller then runs the full algorithm). Components are N-Quads terms; blank nodes start with ``_:``."""
    mentions: dict[str, list[tuple[str, str, str, str | None]]] = {}
    for quad in quads:
        s, _, o, g = quad
        blanks = [c for c in (s, o, g) if c is not None and c.startswith("_:")]
        if len(blanks) != len(set(blanks)):
            return None  # a blank node twice in one quad: left to the full algorithm
        for blank in blanks:
            mentions.setdefault(blank, []).append(quad)
    by_hash: dict[str, str] = {}
    for blank, its in mentions.items():
        lines = []
        for s, p, o, g in its:
            lines.append(_line(
                ("_:a" if s == blank else "_:z") if s.startswith("_:") else s, p,
                ("_:a" if o == blank else "_:z") if o.startswith("_:") else o,
                (("_:a" if g == blank else "_:z") if g.startswith("_:") else g) if g is not None else None,
            ))
        lines.sort()
        digest = hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()
        if digest in by_hash:
            return None
        by_hash[digest] = blank
    label = {blank: f"_:c14n{i}" for i, (_, blank) in enumerate(sorted(by_hash.items()))}
    out = sorted({
        _line(label.get(s, s), p, label.get(o, o), label.get(g, g) if g is not None else None) for s, p, o, g in quads
    })
    return "".join(out)


# --- the canonicaliser -------------------------------------------------------------------------------------------


class ShapeCanonicalizer:
    """Canonicalises documents through per-shape templates; ``to_rdf`` is pyld's conversion of a JSON-LD document
    to an RDF dataset with the service's options (bundled contexts, refusal of undefined terms)."""

    def __init__(self, to_rdf: Callable[[dict[str, Any]], dict[str, list[dict[str, Any]]]], bundled: dict[str, Any],
                 size: int = 512) -> None:
        self._to_rdf = to_rdf
        self._terms = bundled_terms(bundled)
        self._shapes: LRUCache[str, Shape] = LRUCache(maxsize=size)
        #: the caches are shared by the event loop and the signing thread (cachetools' caches are not thread-safe);
        #: filling a template, the per-document work, runs outside the lock
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def clear(self) -> None:
        self._shapes.clear()

    def canonize(self, document: dict[str, Any]) -> str:
        """Canonical N-Quads; raises :class:`NotTemplatable` when the document is pyld's to canonicalise."""
        walk = _Walk(self._terms, set(), frozenset())
        skeleton = walk.node(document)
        shape_key = json.dumps(skeleton, ensure_ascii=False, separators=(",", ":"))
        values = walk.values
        with self._lock:
            shape = self._shapes.get(shape_key)
            if shape is None:
                shape = self._shapes[shape_key] = Shape()
            if shape.untemplatable:
                raise NotTemplatable
            frozen_key = tuple(values[i] for i in sorted(shape.frozen))
            template = shape.templates.get(frozen_key)
            if template is None:
                self.misses += 1
                try:
                    template = self._learn(document, shape, values)
                except _Refused:
                    # remembered, so documents of this shape go straight to the full path (which names the error)
                    shape.templates[tuple(values[i] for i in sorted(shape.frozen))] = _REFUSED
                    raise NotTemplatable from None
                frozen_key = tuple(values[i] for i in sorted(shape.frozen))
                shape.templates[frozen_key] = template
            else:
                self.hits += 1
                if template is _REFUSED:
                    raise NotTemplatable
        return self._fill(template, values, document)

    def _learn(self, document: dict[str, Any], shape: Shape, values: list[str]) -> Template:
        for _ in range(_MAX_LEARNING_ROUNDS):
            walk = _Walk(self._terms, set(), shape.frozen)
            skeleton = walk.node(document)
            placeholders = {}
            for index, kind in enumerate(walk.kinds):
                if kind == "iri":
                    scheme, _, rest = values[index].partition(":")
                    placeholders[f"{scheme}:{'//' if rest.startswith('//') else ''}{MARK}{index}{MARK}"] = index
                elif kind == "text":
                    placeholders[f"{MARK}{index}{MARK}"] = index
            try:
                dataset = self._to_rdf(skeleton)
            except Exception:
                # the skeleton is refused (safe mode) or pyld fails on it: so is every document of this shape and
                # these frozen values; the document itself takes the full path, which reports the real error
                raise _Refused from None
            template, bad = _compile(dataset, placeholders)
            if not bad:
                return template
            shape.frozen = shape.frozen | frozenset(bad)
            shape.templates.clear()
        shape.untemplatable = True
        raise NotTemplatable

    def _fill(self, template: Template, values: list[str], document: dict[str, Any]) -> str:
        if template.iri_slots:
            iris = {values[i] for i in template.iri_slots}
            if len(iris) != len(template.iri_slots) or not iris.isdisjoint(template.node_iris):
                raise NotTemplatable  # pyld would merge these nodes
        quads: list[tuple[str, str, str, str | None]] = []
        for quad in template.quads:
            filled: list[str | None] = []
            for component in quad:
                if component is None or isinstance(component, str):
                    filled.append(component)
                else:
                    index, suffix = component
                    if suffix is None:
                        try:
                            filled.append(canon.iri(values[index]))
                        except canon.InvalidIri:
                            raise Malformed(path_of(document, values[index]),
                                            f"{values[index]!r} is not a valid absolute IRI (JSON-LD would drop it unsigned)") from None
                    else:
                        filled.append(canon.literal(values[index]) + suffix)
            quads.append((filled[0], filled[1], filled[2], filled[3]))  # type: ignore[arg-type]
        # equal values give equal quads: a dataset holds each once
        quads = list(dict.fromkeys(quads))
        try:
            return canon.canonicalize(quads)
        except canon.CanonicalizationLimit:
            raise Malformed("$", "the document's blank nodes cannot be told apart within the canonicalisation's limits") from None
